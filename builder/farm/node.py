"""What runs on a farm node: its facts, and one build returned as plain bundle bytes.

Both entry points return ``bytes`` only (JSON, or a ``.tar.gz``): Ray carries ``bytes`` as raw data, so the
driver never unpickles an object it did not ask for. A build failure is a JSON record, not a raised exception,
so Ray retries only what it should (a dead node), never a profile that fails for a reason of its own.

The build runs the existing path: the bare pipeline (``builder.pipeline.run.run_build``) when the worker runs in
the builder image (KubeRay), or the Docker launcher (``builder.host.launch``) when the node has a Docker engine.
Builds and caches live in a node-local folder, one per node (``<node root>/<node id>/``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.errors import BuilderError

STAGES = ("export", "build", "verify", "benchmark", "publish")


def _ray_identity() -> dict[str, str]:
    import ray

    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "ip": ray.util.get_node_ip_address(), "hostname": socket.gethostname()}


def _auth_mode() -> str:
    import importlib

    raylet = importlib.import_module("ray._raylet")  # not in Ray's type stubs
    if not hasattr(raylet, "get_authentication_mode"):  # a Ray without token authentication (< 2.52)
        return "unsupported"
    return "token" if raylet.get_authentication_mode() == raylet.AuthenticationMode.TOKEN else "disabled"


def collect_facts() -> dict[str, Any]:
    """This node: Ray identity, auth mode, environment identity, GPUs, versions, Docker, builder importability."""
    from builder.machine.environment import environment_identity, package_versions
    from builder.machine.gpu import gpu_identity, list_gpus

    gpus = list_gpus()
    versions = package_versions(("tensorrt", "onnxruntime", "onnxruntime-gpu", "ultralytics", "ray"))
    return {
        **_ray_identity(),
        "auth_mode": _auth_mode(),
        "environment_id": environment_identity(None),
        "gpus": [g.to_dict() for g in gpus],
        "gpu_identity": gpu_identity(gpus),
        "tensorrt": versions.get("tensorrt"),
        "onnxruntime": versions.get("onnxruntime") or versions.get("onnxruntime-gpu"),
        "ultralytics": versions.get("ultralytics"),
        "ray": versions.get("ray"),
        "docker": bool(shutil.which("docker")) and os.path.exists("/var/run/docker.sock"),
        "auto_runner": resolve_runner("auto"),
    }


def node_facts() -> bytes:
    """:func:`collect_facts` as JSON bytes (the probe task's result)."""
    return json.dumps(collect_facts()).encode()


def build_on_node(request_json: bytes, board: Any = None) -> list[bytes]:
    """Build one profile here; return ``[record JSON, bundle bytes]`` (the bundle is empty after a failure).

    ``request_json`` holds ``profile`` (resolved, :meth:`Profile.to_dict`), ``models``, ``node_root``, ``force``,
    ``runner`` (``bare`` | ``docker``), ``profiles_dir`` and ``label`` (the routed accelerator type or pool).
    ``board`` is the driver's progress actor (or None).
    """
    request = json.loads(request_json)
    identity = _ray_identity()
    name = request["profile"]["name"]
    started = time.monotonic()

    def report(stage: str) -> None:
        if board is not None:
            board.update.remote(name, identity["node_id"], identity["ip"], request["label"], stage)

    record: dict[str, Any] = {
        "profile": name,
        "node": {**identity, "label": request["label"]},
        "runner": request["runner"],
    }
    report("starting")
    root = Path(request["node_root"]).expanduser() / identity["node_id"][:16]
    try:
        build_dir = _build(request, root, identity, _stage_sink(report))
        record.update(build_dir=str(build_dir), build_id=build_dir.name)
        report("bundling")
        bundle = full_bundle_bytes(build_dir, root / "outbox")
    except BuilderError as err:
        record.update(
            error={"message": err.message, "hint": err.hint, "exit_code": int(err.exit_code)},
            seconds=time.monotonic() - started,
        )
        report("failed")
        return [json.dumps(record).encode(), b""]
    record["seconds"] = time.monotonic() - started
    report("sending")
    return [json.dumps(record).encode(), bundle]


def _stage_sink(report: Callable[[str], None]) -> Callable[[str], None]:
    """A pipeline log sink that turns ``[<stage>] started`` lines into progress reports."""

    def sink(line: str) -> None:
        for stage in STAGES:
            if line.startswith(f"[{stage}] started"):
                report(stage)
        print(line, flush=True)

    return sink


def _build(request: dict[str, Any], root: Path, identity: dict[str, str], log: Callable[[str], None]) -> Path:
    argv = ("python", "-m", "builder", "farm", "--profiles", request["profile"]["name"],
            f"--on-node={identity['node_id']}", f"--node-ip={identity['ip']}",
            f"--node-label={request['label']}")  # fmt: skip
    models = Path(request["models"])
    if resolve_runner(request["runner"]) == "docker":
        return _docker_build(request, root, models, log)
    from builder.pipeline.run import BuildSettings, run_build
    from builder.profile.resolved import profile_from_resolved

    profile = profile_from_resolved(request["profile"])
    settings = BuildSettings(artifacts=root / "artifacts", models=models, cache_dir=root / "cache",
                             force=request["force"], wait=True, argv=argv, log=log)  # fmt: skip
    return run_build(profile, settings).build_dir


def resolve_runner(runner: str) -> str:
    """``bare`` or ``docker``.

    ``auto`` is bare where the builder's libraries are installed (the builder image), else Docker.
    """
    if runner != "auto":
        return runner
    import importlib.util

    return "bare" if importlib.util.find_spec("ultralytics") and importlib.util.find_spec("onnx") else "docker"


def _docker_build(request: dict[str, Any], root: Path, models: Path, log: Callable[[str], None]) -> Path:
    """The Docker launcher on this node (the profile by name from the node's own profiles folder)."""
    import importlib

    from builder.host.launch import launch
    from builder.host.settings import host_settings
    from builder.ops.bundle import find_build

    engine_module = None
    for module_name in ("builder.host.docker_engine", "builder.host.engine"):  # renamed in a later version
        try:
            engine_module = importlib.import_module(module_name)
            break
        except ModuleNotFoundError:
            continue
    if engine_module is None:
        raise BuilderError("this node has no Docker launcher", hint="run the farm with --runner bare on this cluster")
    artifacts = root / "artifacts"
    name = request["profile"]["name"]
    settings = host_settings(Path(request["profiles_dir"]), models, artifacts, root / "cache", force=request["force"])
    code = launch(name, settings, engine_module.DockerEngine(), log, log)
    if code != 0:
        raise BuilderError(
            f"the build container of {name} exited with code {code} on this node", hint="read the node's log above"
        )
    return find_build(artifacts, name)


def full_bundle_bytes(build_dir: Path, outbox: Path) -> bytes:
    """The ops bundle of ``build_dir`` plus every other file of the build (so the driver can publish a complete
    build folder), as ``.tar.gz`` bytes. Made with :mod:`builder.ops.bundle`; the bundle's SHA256SUMS covers all."""
    from builder.common.hashing import SUMS_NAME, format_sums, sha256_file
    from builder.ops.bundle import BUILD_FOLDER, bundle_entries, write_tar_gz

    top, entries, mtime = bundle_entries(build_dir)
    for path in sorted(p for p in build_dir.rglob("*") if p.is_file()):
        entries.setdefault(f"{BUILD_FOLDER}/{path.relative_to(build_dir).as_posix()}", path)
    entries[f"{BUILD_FOLDER}/{SUMS_NAME}"] = build_dir / SUMS_NAME  # every build file is here: the build's own list
    del entries[SUMS_NAME]
    sums = [(rel, sha256_file(v) if isinstance(v, Path) else _sha(v)) for rel, v in entries.items()]
    entries[SUMS_NAME] = format_sums(sums).encode()
    outbox.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outbox) as tmp:
        archive = Path(tmp) / f"{top}.tar.gz"
        write_tar_gz(archive, top, entries, mtime)
        return archive.read_bytes()


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
