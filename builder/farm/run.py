"""The farm driver: route every profile, skip what is up to date, build the rest on the cluster, publish centrally.

Order: load every profile (all errors first) -> join the cluster (token authentication required) -> probe the
nodes -> route (a profile no node can serve stops the run before anything is submitted) -> build-key check per
profile against the central artifacts (up to date: no task) -> one Ray task per profile -> as each returns:
verify its bundle bytes, publish -> summary table and a JSON record of which node built what.

A node that dies mid-build is Ray's system failure: the task is retried (``--retries``, default 2) on another
node that has the routed resource; after that the profile is reported failed. Ctrl-C cancels every remote task
(KeyboardInterrupt in the task first, so the Docker launcher stops its container; then a forced kill).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder.backends.catalog import needs_gpu
from builder.errors import BuilderError, ExitCode
from builder.farm.progress import FarmResult, ProgressBoard, ProgressPrinter, summary_table
from builder.farm.routing import Route
from builder.profile import Profile
from builder.record.layout import ArtifactLayout

HEAD_NODE_RESOURCE = "node:__internal_head__"  # ray._common.constants.HEAD_NODE_RESOURCE_NAME (Ray 2.60)
CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class FarmOptions:
    profiles: tuple[str, ...]
    profiles_dir: Path
    artifacts: Path
    models: Path
    reports: Path | None = None
    address: str = "auto"
    node_root: str = "~/.cache/engine-foundry/farm"  # node-local builds and caches, one folder per node
    node_models: str | None = None  # the models folder as nodes see it (default: --models, absolute)
    runner: str = "auto"  # bare | docker | auto (bare where the builder's libraries are installed, else Docker)
    pools: Mapping[str, str] = field(default_factory=dict)  # profile name -> custom resource of its pool
    force: bool = False
    retries: int = 2
    cpus_per_build: float = 1.0
    allow_insecure: bool = False
    node_logs: bool = False  # stream the nodes' build logs here (else they stay in the nodes' Ray logs)
    poll_s: float = 1.0


class FarmFailed(BuilderError):
    """Some profiles were not built or not published (the summary says which and why)."""

    def __init__(self, message: str, *, hint: str, code: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = ExitCode(code)


@dataclass
class _Job:
    profile: Profile
    route: Route
    keys: dict[str, str | None]  # node ID -> the build key that node would produce (None: known after the build)
    meta_ref: Any = None
    bundle_ref: Any = None


def run_farm(
    options: FarmOptions, *, log: Callable[[str], None] = print, build_task: Callable[..., Any] | None = None
) -> list[FarmResult]:
    """Build ``options.profiles`` on the cluster; return one :class:`FarmResult` per profile.

    ``build_task`` replaces :func:`builder.farm.node.build_on_node` (tests wrap it to damage what it returns).

    Raises:
        BuilderError: before anything is submitted (bad profile, no Ray, no token authentication, unserveable profile).
        Interrupted: Ctrl-C (after every remote task was cancelled).
    """
    from builder.farm.cluster import alive_nodes, check_cluster_auth, connect, probe_nodes
    from builder.farm.node import build_on_node
    from builder.farm.routing import route_all
    from builder.profile import load_profile

    profiles = [load_profile(ref, options.profiles_dir) for ref in options.profiles]
    ray = connect(options.address, allow_insecure=options.allow_insecure, log=log, node_logs=options.node_logs)
    nodes = alive_nodes(ray)
    facts = probe_nodes(ray, nodes)
    check_cluster_auth(facts, options.allow_insecure, log)
    nodes = [n for n in nodes if n.node_id in facts]
    routes = route_all(profiles, nodes, options.pools)
    for node in nodes:
        log(f"node {node.ip}/{node.node_id[:8]}: accelerator types {', '.join(node.accelerator_types) or 'none'}, "
            f"GPUs {node.gpus:g}, CPUs {node.resources.get('CPU', 0):g}, "
            f"auth {facts[node.node_id].get('auth_mode')}")  # fmt: skip
    results: dict[str, FarmResult] = {}
    jobs = []
    for profile, route in zip(profiles, routes, strict=True):
        job = _Job(profile, route, _keys_for(profile, route, facts, options))
        done = None if options.force else _published(options.artifacts, job)
        if done is not None:
            log(f"UP-TO-DATE {profile.name}: {done} (build key {done.name[-12:]}; no task submitted)")
            results[profile.name] = FarmResult(profile.name, "up to date", build_dir=str(done))
        else:
            jobs.append(job)
    try:
        if jobs:
            results.update(_run_jobs(ray, jobs, options, facts, build_task or build_on_node, log))
    except _Interrupted as stop:
        from builder.pipeline.run import Interrupted

        results.update(stop.results)
        _finish([results[p.name] for p in profiles if p.name in results], nodes, facts, options, log)
        raise Interrupted(
            "farm: interrupted; every remote build was cancelled",
            hint="nothing partial was published; run the farm again",
        ) from None
    ordered = [results[p.name] for p in profiles]
    _finish(ordered, nodes, facts, options, log)
    return ordered


def _key_function(profile: Profile, facts: Mapping[str, Any], models: Path) -> Callable[[str], str]:
    """environment identity -> the build key this node makes (the function every build uses, with the node's GPU)."""
    from builder.record.buildkey import compute_build_key, data_digests
    from builder.record.weights import weights_fingerprint

    weights, data = weights_fingerprint(profile.model, models), data_digests(profile, models)
    gpu = str(facts["gpu_identity"]) if needs_gpu(profile.backend) else ""
    return lambda environment_id: compute_build_key(profile, weights, environment_id, gpu, data)


def _keys_for(
    profile: Profile, route: Route, facts: Mapping[str, Mapping[str, Any]], options: FarmOptions
) -> dict[str, str | None]:
    """The build key each candidate node would make; None where the Docker runner builds (the image ID decides,
    known only on the node: the launcher's own up-to-date check runs there, and the driver checks the key after)."""
    keys: dict[str, str | None] = {}
    for node_id in route.candidates:
        runner = options.runner if options.runner != "auto" else facts[node_id].get("auto_runner", "bare")
        keys[node_id] = (
            None
            if runner == "docker"
            else _key_function(profile, facts[node_id], options.models)(str(facts[node_id]["environment_id"]))
        )
    return keys


def _published(artifacts: Path, job: _Job) -> Path | None:
    layout = ArtifactLayout(artifacts, job.profile.name)
    for key in sorted({k for k in job.keys.values() if k is not None}):
        found = layout.find_build_with_key(key)
        if found is not None:
            return found
    return None


def _run_jobs(ray: Any, jobs: list[_Job], options: FarmOptions, facts: Mapping[str, Mapping[str, Any]],
              task: Callable[..., Any], log: Callable[[str], None]) -> dict[str, FarmResult]:  # fmt: skip
    # The board lives on the head node, so that a build node's death (the case retries exist for) leaves the
    # progress lines, RETRY included, going: Ray pins its own state actors there the same way (the head's
    # `node:__internal_head__` resource). The driver's own node is no answer: nodes on one host share its IP.
    board = ray.remote(num_cpus=0)(ProgressBoard).options(resources={HEAD_NODE_RESOURCE: 0.001}).remote()
    remote = ray.remote(task)
    printer = ProgressPrinter(log, max(len(j.profile.name) for j in jobs))
    node_models = options.node_models or str(options.models.absolute())
    pending: dict[Any, _Job] = {}
    for job in jobs:
        request = {"profile": job.profile.to_dict(), "models": node_models, "node_root": options.node_root,
                   "force": options.force, "runner": options.runner,
                   "profiles_dir": str(options.profiles_dir.absolute()), "label": job.route.label}  # fmt: skip
        job.meta_ref, job.bundle_ref = remote.options(
            num_cpus=options.cpus_per_build, num_returns=2, max_retries=options.retries, retry_exceptions=False,
            name=f"farm-build:{job.profile.name}", **job.route.ray_options(),
        ).remote(json.dumps(request).encode(), board)  # fmt: skip
        pending[job.meta_ref] = job
        printer.line(job.profile.name, "-", job.route.label, "submitted")
    results: dict[str, FarmResult] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=options.poll_s)
            printer.show(_snapshot(ray, board))
            for ref in ready:
                job = pending.pop(ref)
                results[job.profile.name] = _collect(ray, job, options, facts, log)
    except KeyboardInterrupt:
        log(f"interrupted: cancelling {len(pending)} remote build(s); nothing more is published")
        _cancel(ray, list(pending), log)
        for job in pending.values():
            results[job.profile.name] = FarmResult(
                job.profile.name, "cancelled", label=job.route.label, message="interrupted (Ctrl-C)"
            )
        raise _Interrupted(results) from None
    return results


class _Interrupted(KeyboardInterrupt):
    def __init__(self, results: dict[str, FarmResult]) -> None:
        super().__init__()
        self.results = results


def _snapshot(ray: Any, board: Any) -> dict[str, Any]:
    """The board's rows; none when it is gone (its node died): progress lines stop, the builds go on."""
    try:
        data = ray.get(board.snapshot.remote(), timeout=30)
    except Exception:  # RayActorError, GetTimeoutError: progress is a convenience, never a reason to fail
        return {}
    return json.loads(data) if isinstance(data, bytes) else {}


def _cancel(ray: Any, refs: list[Any], log: Callable[[str], None]) -> None:
    """KeyboardInterrupt in each task (cleanup runs: containers stop), then a forced kill of what is left."""
    for ref in refs:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + CANCEL_GRACE_S
    left = list(refs)
    while left and time.monotonic() < deadline:
        _, left = ray.wait(left, num_returns=len(left), timeout=0.5)
    for ref in left:
        ray.cancel(ref, force=True)
    log(f"cancelled {len(refs)} remote build(s) ({len(left)} had to be killed)")


def _collect(
    ray: Any, job: _Job, options: FarmOptions, facts: Mapping[str, Mapping[str, Any]], log: Callable[[str], None]
) -> FarmResult:
    """Fetch one task's record and bundle, verify, publish; a failure of any kind becomes a result, not an exception."""
    from builder.farm.receive import Expected, publish_bundle, verify_bundle_bytes

    name, label = job.profile.name, job.route.label
    try:
        meta = ray.get(job.meta_ref)
    except Exception as err:  # the task died with its node after every retry, or Ray lost it
        return FarmResult(
            name,
            "failed",
            label=label,
            message=f"{type(err).__name__}: {_first_line(err)} (after {options.retries} retries)",
        )
    record = json.loads(meta) if isinstance(meta, bytes) else {}
    node = record.get("node") or {}
    node_id, where = str(node.get("node_id", "")), f"{node.get('ip', '?')}/{str(node.get('node_id', ''))[:8]}"
    seconds = float(record.get("seconds") or 0.0)
    if record.get("error"):
        error = record["error"]
        log(
            f"FAILED {name} on {where}: {error.get('message')}"
            + (f" (TIP {error['hint']})" if error.get("hint") else "")
        )
        return FarmResult(name, "failed", where, label, seconds, message=str(error.get("message")))
    if node_id not in job.keys:
        return FarmResult(
            name, "no-go", where, label, seconds, message=f"built on node {node_id[:12]}, which was not routed for it"
        )
    expected = Expected(
        job.keys[node_id],
        job.profile.sha256(),
        facts[node_id],
        _key_function(job.profile, facts[node_id], options.models),
    )
    with tempfile.TemporaryDirectory(prefix="ef-farm-") as scratch:
        report = verify_bundle_bytes(ray.get(job.bundle_ref), expected, Path(scratch))
        if not report.ok:
            bad = next(c for c in report.checks if c.status == "fail")
            log(f"NO-GO {name} from {where}: {bad.name}: {bad.message} (nothing published)")
            return FarmResult(name, "no-go", where, label, seconds, message=f"{bad.name}: {bad.message}")
        try:
            key = expected.key_for(report.manifest)
            final, published = publish_bundle(
                Path(scratch) / "bundle.tar.gz", ArtifactLayout(options.artifacts, name), key
            )
        except BuilderError as err:
            return FarmResult(name, "no-go", where, label, seconds, message=err.message)
    if not published:
        log(f"ALREADY-PUBLISHED {name}: {final} (another run published build key {key[:12]} first; nothing added)")
        return FarmResult(name, "already published", where, label, seconds, str(final))
    log(f"PUBLISHED {name}: {final} (built on {where}, {label}; verified: {len(report.checks)} checks)")
    return FarmResult(name, "built", where, label, seconds, str(final))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else ""


def _finish(
    results: list[FarmResult], nodes: Any, facts: Mapping[str, Any], options: FarmOptions, log: Callable[[str], None]
) -> None:
    log("summary:")
    for line in summary_table(results):
        log(f"  {line}")
    if options.reports is not None:
        from builder.common.atomic import write_text_atomic

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = options.reports / "farm" / f"{stamp}.json"
        data = {"created_at": stamp, "address": options.address, "results": [asdict(r) for r in results],
                "nodes": {n.node_id: {"ip": n.ip, "resources": dict(n.resources), "facts": facts.get(n.node_id)}
                          for n in nodes}}  # fmt: skip
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        log(f"record: {path}")


def raise_for_results(results: list[FarmResult]) -> None:
    """Turn failed results into one :class:`FarmFailed` (exit 5 for a NO-GO, else the first failure's code)."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return
    code = (
        ExitCode.INTERRUPTED
        if any(r.status == "cancelled" for r in bad)
        else ExitCode.ARTIFACT
        if any(r.status == "no-go" for r in bad)
        else ExitCode.STAGE
    )
    raise FarmFailed(
        f"{len(bad)} of {len(results)} profile(s) not built: "
        + "; ".join(f"{r.profile}: {r.status} ({r.message})" for r in bad),
        hint="read the lines above (FAILED / NO-GO name the node and the reason); nothing broken was published",
        code=int(code),
    )
