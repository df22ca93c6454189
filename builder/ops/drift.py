"""Compare two manifests of one profile: what changed between builds, and does it matter?

Each difference is a :class:`Change` with a severity:

- ``fail``: a regression. The new build failed; p50 latency grew beyond the
  threshold, widened to :data:`NOISE_FACTOR` times the measured spread of either benchmark, on a machine
  that was not overloaded (a slower p50 under load is ``info``), and the model's bytes changed: with the same
  bytes (same sha256) a latency change is the machine, never the build (``info``). The nightly then re-measures
  both models side by side (:mod:`builder.timing.latency_ab`) and judges with :func:`interleaved_latency_changes`
  instead of the two manifests' numbers; or an artifact that is deterministic
  (ONNX, ONNX Runtime model, metadata) changed although inputs and environment are identical.
- ``drift``: something that determines the output changed: an input (the
  resolved profile, the weights, calibration data), the builder version, or
  the environment (base image, Python, packages, TensorRT, CUDA, driver, GPU);
  also a TensorRT layer listing that changed with identical inputs, an artifact
  that appeared or disappeared, or a verification metric that got clearly worse.
- ``info``: recorded, never fails: new image ID after a from-scratch rebuild,
  TensorRT plan bytes (TensorRT does not promise identical bytes), artifact
  changes that follow from a changed input, small metric changes, faster runs.

Both ``fail`` and ``drift`` make the nightly exit non-zero (exit 7).
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from builder.backends.catalog import find_backend
from builder.ops.reproduce import Status, compare_artifacts
from builder.record.manifest_read import (
    BenchmarkView,
    EnvironmentView,
    ErrorView,
    EvaluationView,
    Latency,
    ManifestView,
)

ENV_DRIFT_KEYS = ("python", "machine", "tensorrt", "cuda", "driver", "image.base", "image.base_id")
ENV_INFO_KEYS = ("image.id", "image.ref", "platform", "executable", "in_container")
PROFILE_INFO_KEYS = ("source", "extends_chain", "description")
WORSE_WHEN_HIGHER = ("err", "diff", "delta", "mismatch", "violation", "fail", "unmatched", "max_abs", "max_rel")
WORSE_WHEN_LOWER = ("agree", "match", "recall", "precision", "map", "iou", "pass", "cosine")
METRIC_IGNORE = ("second", "time", "duration", "elapsed", "seed", "_at")
METRIC_ABS_FLOOR = 1e-4
NOISE_FACTOR = 3  # a p50 regression must exceed this many times the larger measured round-to-round spread
BUSY_LOAD_PER_CPU = 1.0  # above this 1-minute load per usable CPU, a slower p50 is recorded, not judged


class Severity(str, enum.Enum):
    INFO = "info"
    DRIFT = "drift"
    FAIL = "fail"


@dataclass(frozen=True)
class Change:
    """One difference between the previous and the new build."""

    area: str  # status | input | builder | environment | artifact | verification | accuracy | latency
    key: str
    old: Any
    new: Any
    severity: Severity
    reason: str

    def line(self) -> str:
        return f"{self.key}: {_short(self.old)} -> {_short(self.new)} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "severity": self.severity.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DriftReport:
    """The comparison of one profile's new build with its previous good build."""

    profile: str
    previous_build: str | None
    new_build: str | None
    changes: tuple[Change, ...]

    @property
    def verdict(self) -> str:
        """``regression``, ``drift``, ``baseline`` (nothing to compare with) or ``no drift``."""
        if any(c.severity is Severity.FAIL for c in self.changes):
            return "regression"
        if any(c.severity is Severity.DRIFT for c in self.changes):
            return "drift"
        return "baseline" if self.previous_build is None else "no drift"

    @property
    def ok(self) -> bool:
        return self.verdict in ("baseline", "no drift")

    def failing(self) -> list[Change]:
        """Changes that make the nightly fail, regressions first."""
        order = {Severity.FAIL: 0, Severity.DRIFT: 1}
        return sorted((c for c in self.changes if c.severity in order), key=lambda c: order[c.severity])

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "previous_build": self.previous_build,
            "new_build": self.new_build,
            "verdict": self.verdict,
            "changes": [c.to_dict() for c in self.changes],
        }


def compare_manifests(
    old: ManifestView | None,
    new: ManifestView,
    *,
    latency_threshold: float = 0.2,
    metric_tolerance: float = 0.5,
) -> DriftReport:
    """Classify every difference between ``old`` (previous good build) and ``new``.

    Args:
        old: the previous good build's manifest, or None on the first night.
        new: the new build's manifest (a failed build's manifest is a regression).
        latency_threshold: relative p50 growth that counts as a regression (0.2 = +20 %).
        metric_tolerance: relative worsening of a verification metric that counts as drift.
    """
    name = new.profile.name
    changes: list[Change] = []
    if not new.succeeded:
        error = new.error or ErrorView(None, None, None)
        reason = f"build failed in stage {error.stage or '?'}: {error.message or 'no message'}"
        changes.append(Change("status", "status", old.status if old else None, new.status, Severity.FAIL, reason))
    if old is None:
        return DriftReport(name, None, new.build_id, tuple(changes))
    changes += _input_changes(old, new)
    changes += _environment_changes(old, new)
    explained = any(c.severity is Severity.DRIFT and c.area in ("input", "builder", "environment") for c in changes)
    if new.succeeded:
        entry = find_backend(new.profile.resolved.backend)
        unreproducible = entry.name if entry is not None and not entry.reproducible else None
        changes += _artifact_changes(old, new, explained=explained, unreproducible=unreproducible)
        changes += _metric_changes(_verify_details(old), _verify_details(new), metric_tolerance)
        changes += _accuracy_changes(old.evaluation, new.evaluation)
        latency = _latency_changes(old.benchmark, new.benchmark, latency_threshold)
        same = same_model_bytes(old, new)
        changes += [_same_bytes(c, same) for c in latency] if same else latency
    return DriftReport(name, old.build_id, new.build_id, tuple(changes))


def _input_facts(manifest: ManifestView) -> dict[str, str | None]:
    """The recorded inputs drift compares, by the key a change names."""
    weights, calibration = manifest.inputs.weights, manifest.inputs.calibration
    return {
        "weights.sha256": weights.sha256 if weights else None,
        "weights.identity": weights.identity if weights else None,
        "calibration.sha256": calibration.sha256 if calibration else None,
    }


def _input_changes(old: ManifestView, new: ManifestView) -> list[Change]:
    changes = []
    if old.profile.sha256 != new.profile.sha256:
        diffs = _leaf_diffs(old.profile.resolved.data, new.profile.resolved.data)
        keys = [k for k, _, _ in diffs if k.split(".")[0] not in PROFILE_INFO_KEYS]
        for key, a, b in diffs:
            if key in keys:
                changes.append(Change("input", f"profile.{key}", a, b, Severity.DRIFT, "changed profile setting"))
        if not keys:
            changes.append(
                Change("input", "profile.sha256", old.profile.sha256, new.profile.sha256, Severity.DRIFT,
                       "changed profile")
            )  # fmt: skip
    before, after = _input_facts(old), _input_facts(new)
    for key in before:
        if before[key] != after[key]:
            changes.append(Change("input", f"inputs.{key}", before[key], after[key], Severity.DRIFT, "changed input"))
    if old.builder_version != new.builder_version:
        changes.append(
            Change(
                "builder",
                "builder_version",
                old.builder_version,
                new.builder_version,
                Severity.DRIFT,
                "builder code changed",
            )
        )
    return changes


def _environment_facts(env: EnvironmentView) -> dict[str, Any]:
    """The environment facts drift compares (:data:`ENV_DRIFT_KEYS`, :data:`ENV_INFO_KEYS`), by key."""
    return {
        "python": env.python,
        "machine": env.machine,
        "tensorrt": env.tensorrt,
        "cuda": env.cuda,
        "driver": env.driver,
        "image.base": env.image.base,
        "image.base_id": env.image.base_id,
        "image.id": env.image.id,
        "image.ref": env.image.ref,
        "platform": env.platform,
        "executable": env.executable,
        "in_container": env.in_container,
    }


def _environment_changes(old: ManifestView, new: ManifestView) -> list[Change]:
    changes = []
    before, after = _environment_facts(old.environment), _environment_facts(new.environment)
    for keys, severity, reason in (
        (ENV_DRIFT_KEYS, Severity.DRIFT, "environment changed"),
        (ENV_INFO_KEYS, Severity.INFO, "informational"),
    ):
        for key in keys:
            a, b = before[key], after[key]
            if a != b:
                changes.append(Change("environment", f"environment.{key}", a, b, severity, reason))
    old_env, new_env = old.environment, new.environment
    for pkg in sorted(set(old_env.packages) | set(new_env.packages)):
        if old_env.package(pkg) != new_env.package(pkg):
            changes.append(
                Change(
                    "environment",
                    f"packages.{pkg}",
                    old_env.package(pkg),
                    new_env.package(pkg),
                    Severity.DRIFT,
                    "package version changed",
                )
            )
    old_gpus, new_gpus = _gpu_models(old), _gpu_models(new)
    if old_gpus != new_gpus:
        changes.append(
            Change("environment", "environment.gpus", old_gpus, new_gpus, Severity.DRIFT, "GPU model changed")
        )
    return changes


def _gpu_models(manifest: ManifestView) -> list[str]:
    return [f"{g.name} (cc {g.compute_capability})" for g in manifest.environment.gpus]


def _artifact_changes(
    old: ManifestView, new: ManifestView, *, explained: bool, unreproducible: str | None
) -> list[Change]:
    """``unreproducible``: the backend whose artifacts may differ byte for byte with identical inputs (its catalogue
    entry is not ``reproducible``: TensorRT times tactics); None for a reproducible one. The comparison itself is
    ``reproduce``'s (:func:`builder.ops.reproduce.compare_artifacts`)."""
    stable = unreproducible is None or bool(new.profile.resolved.frozen)
    changes = []
    for diff in compare_artifacts(_records(old), _records(new), stable=stable):
        key = f"artifact {diff.path}"
        if diff.status in (Status.ADDED, Status.MISSING):
            severity = Severity.INFO if explained else Severity.DRIFT
            what = "artifact added" if diff.status is Status.ADDED else "artifact removed"
            changes.append(Change("artifact", key, diff.old, diff.new, severity, what))
            continue
        if explained:
            severity, reason = Severity.INFO, "follows from the changed input or environment"
        elif diff.status is Status.PLAN_BYTES:
            severity, reason = Severity.INFO, f"backend {unreproducible} does not promise identical artifact bytes"
        elif diff.status is Status.LAYERS:
            reason = f"backend {unreproducible} chose other layers/tactics with identical inputs"
            severity = Severity.DRIFT
        else:
            severity, reason = Severity.FAIL, "not reproducible: bytes changed with identical inputs and environment"
        changes.append(Change("artifact", key, diff.old, diff.new, severity, reason))
    return changes


def _records(manifest: ManifestView) -> list[dict[str, Any]]:
    return [dataclasses.asdict(a) for a in manifest.artifacts]


def _metric_changes(old: Mapping[str, Any], new: Mapping[str, Any], tolerance: float) -> list[Change]:
    before, after = dict(_numeric_leaves(old)), dict(_numeric_leaves(new))
    changes = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        label = f"verify.{key}"
        if a is None or b is None:
            changes.append(Change("verification", label, a, b, Severity.INFO, "metric added or removed"))
            continue
        if isinstance(a, bool) or isinstance(b, bool):
            changes.append(Change("verification", label, a, b, Severity.DRIFT, "verification outcome changed"))
            continue
        worse = _worsening(key.split(".")[-1].lower(), float(a), float(b))
        limit = max(METRIC_ABS_FLOOR, tolerance * abs(float(a)))
        if worse is not None and worse > limit:
            changes.append(
                Change("verification", label, a, b, Severity.DRIFT, f"metric worse by more than {tolerance:.0%}")
            )
        else:
            changes.append(Change("verification", label, a, b, Severity.INFO, "metric changed within tolerance"))
    return changes


MAP_DRIFT = 0.005  # the gated metric lost since the last good build that counts as drift (half a point)


def _accuracy_changes(old: EvaluationView | None, new: EvaluationView | None) -> list[Change]:
    """The accuracy gate's numbers (builder/pipeline/stages/evaluate.py) against the last good build: the artifact's
    gated metric and its drop below the FP32 reference. The gated metric is the task's own
    (:attr:`EvaluationView.gated`): mAP50-95 for detect, mask mAP50-95 for segment, pose (OKS) mAP50-95, OBB
    mAP50-95, top-1 accuracy for classify; each change names it."""
    if new is None:
        return []
    changes = []
    key, metric = new.gated
    for path in (f"artifact.{key}", "map50_95_drop"):
        a, b = _gate_number(old, path), _gate_number(new, path)
        if b is None or a == b:
            continue
        label = f"evaluate.{path}"
        if a is None:
            changes.append(Change("accuracy", label, a, b, Severity.INFO, f"{metric} gate added"))
            continue
        worse = (a - b) if path.startswith("artifact") else (b - a)
        severity = Severity.DRIFT if worse > MAP_DRIFT else Severity.INFO
        what = metric if path.startswith("artifact") else f"{metric} drop below the FP32 reference"
        reason = f"{what} {'worse' if worse > 0 else 'better'} by {abs(worse):.4f}" + (
            f" (more than {MAP_DRIFT})" if severity is Severity.DRIFT else ""
        )
        changes.append(Change("accuracy", label, a, b, severity, reason))
    return changes


def _gate_number(gate: EvaluationView | None, path: str) -> float | None:
    if gate is None:
        return None
    return gate.artifact.number(path.split(".", 1)[1]) if path.startswith("artifact.") else gate.map50_95_drop


def _worsening(name: str, a: float, b: float) -> float | None:
    """How much worse ``b`` is than ``a`` (> 0 is worse); None when the name does not tell."""
    if any(word in name for word in WORSE_WHEN_HIGHER):
        return b - a
    if any(word in name for word in WORSE_WHEN_LOWER):
        return a - b
    return None


def _latency_changes(old: BenchmarkView | None, new: BenchmarkView | None, threshold: float) -> list[Change]:
    old_lat, new_lat = _latency(old), _latency(new)
    if old is None or old_lat is None:
        return []
    if new is None or new_lat is None:
        return [Change("latency", "latency_ms", old_lat.p50, None, Severity.DRIFT, "the new build has no benchmark")]
    if old.method != new.method:
        reason = "benchmark method changed; latencies not compared"
        return [Change("latency", "benchmark.method", old.method, new.method, Severity.INFO, reason)]
    changes = []
    busy = _busy_machine(old, new)
    limit = max(threshold, NOISE_FACTOR * max(_spread(old), _spread(new)))
    for pct in ("p50", "p90", "p99"):
        a, b = old_lat.percentile(pct), new_lat.percentile(pct)
        if a is None or b is None or a <= 0:
            continue
        rel = b / a - 1.0
        detail = f"{a:.3f} -> {b:.3f} ms ({rel:+.1%})"
        if rel > limit and pct == "p50" and busy:
            changes.append(
                Change("latency", f"latency_ms.{pct}", a, b, Severity.INFO, f"slower {detail}, not judged: {busy}")
            )
        elif rel > limit and pct == "p50":
            why = f"> {limit:.0%}" + (
                f" (threshold {threshold:.0%} widened to {NOISE_FACTOR}x the measured spread)"
                if limit > threshold
                else ""
            )
            changes.append(Change("latency", f"latency_ms.{pct}", a, b, Severity.FAIL, f"regressed {detail} {why}"))
        elif abs(rel) > threshold:
            changes.append(
                Change(
                    "latency", f"latency_ms.{pct}", a, b, Severity.INFO, f"{'slower' if rel > 0 else 'faster'} {detail}"
                )
            )
    return changes


def model_sha256(manifest: ManifestView) -> str | None:
    """The sha256 of the published model (the artifact of kind ``model``), or None."""
    model = manifest.model
    return model.sha256 if model is not None else None


def same_model_bytes(old: ManifestView, new: ManifestView) -> str | None:
    """The model's sha256 when both builds published the very same model bytes, else None."""
    a, b = model_sha256(old), model_sha256(new)
    return a if a is not None and a == b else None


def _same_bytes(change: Change, sha256: str) -> Change:
    """A latency change between identical model bytes: recorded, never judged."""
    if not change.key.startswith("latency_ms.") or change.severity is Severity.INFO and "not judged" in change.reason:
        return change
    reason = f"{change.reason.split(' > ')[0]}, not judged: same model bytes (sha256 {sha256[:12]}), so the machine"
    return Change(change.area, change.key, change.old, change.new, Severity.INFO, reason + ", not the build")


def interleaved_latency_changes(measured: Mapping[str, Any], threshold: float) -> tuple[list[Change], dict[str, Any]]:
    """Judge the side-by-side timing of :func:`builder.timing.latency_ab.measure_interleaved`.

    The change is the median of the per-round new/previous p50 ratios; the noise is their median absolute
    deviation (how much the same comparison moves from round to round on this machine now). A regression is a
    change above ``threshold`` widened to :data:`NOISE_FACTOR` times that noise. Returns the changes (at most
    one) and the judgement's numbers, for the report.
    """
    ratios = [float(r) for r in measured.get("ratios") or [] if isinstance(r, (int, float)) and r > 0]
    if not ratios:
        return [], {"verdict": "not judged: no rounds measured"}
    median = statistics.median(ratios)
    noise = statistics.median(abs(r - median) for r in ratios) / median
    limit = max(threshold, NOISE_FACTOR * noise)
    change = median - 1.0
    a = statistics.median(measured["previous"]["round_p50_ms"])
    b = statistics.median(measured["new"]["round_p50_ms"])
    detail = (
        f"{a:.3f} -> {b:.3f} ms ({change:+.1%}) timed side by side, {len(ratios)} interleaved rounds, "
        f"round-to-round noise {noise:.1%}"
    )
    facts = {"median_ratio": round(median, 4), "noise": round(noise, 4), "limit": round(limit, 4),
             "previous_p50_ms": round(a, 4), "new_p50_ms": round(b, 4)}  # fmt: skip
    if change > limit:
        why = f"regressed {detail} > {limit:.0%}"
        facts["verdict"] = "regression"
        return [Change("latency", "latency_ms.p50", a, b, Severity.FAIL, why)], facts
    facts["verdict"] = "within noise" if change > -limit else "faster"
    if abs(change) > threshold:
        word = "slower" if change > 0 else "faster"
        return [Change("latency", "latency_ms.p50", a, b, Severity.INFO, f"{word} {detail}, within noise")], facts
    return [], facts


def _latency(benchmark: BenchmarkView | None) -> Latency | None:
    """The benchmark's percentiles, None when it recorded none."""
    latency = benchmark.latency_ms if benchmark is not None else None
    return latency if latency is not None and (latency.p50, latency.p90, latency.p99) != (None, None, None) else None


def _spread(benchmark: BenchmarkView) -> float:
    """Relative spread of the round medians one benchmark measured (0 when it did not record one)."""
    return benchmark.p50_spread or 0.0


def _busy_machine(old: BenchmarkView, new: BenchmarkView) -> str:
    """Why the two benchmarks' machine conditions make a latency comparison meaningless ("" when they do not)."""
    for name, bench in (("previous", old), ("new", new)):
        load = bench.load_per_cpu
        if load is not None and load > BUSY_LOAD_PER_CPU:
            return f"the {name} build ran on a loaded machine ({load:.2f} runnable tasks per CPU > {BUSY_LOAD_PER_CPU})"
    if old.threads and new.threads and old.threads != new.threads:
        return f"CPUs available changed ({old.threads} -> {new.threads})"
    return ""


def _verify_details(manifest: ManifestView) -> Mapping[str, Any]:
    data = manifest.verification.data if manifest.verification is not None else {}
    return {k: v for k, v in data.items() if k != "artifacts"}


def _numeric_leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, float | bool]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if not any(word in str(key).lower() for word in METRIC_IGNORE):
                yield from _numeric_leaves(value, f"{prefix}{key}.")
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            yield from _numeric_leaves(value, f"{prefix}{index}.")
    elif isinstance(data, (int, float)) and not (isinstance(data, float) and data != data):
        yield prefix.rstrip("."), data


def _leaf_diffs(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(a) | set(b), key=str):
            out += _leaf_diffs(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [(prefix.rstrip("."), a, b)]


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]
    return text if len(text) <= 80 else text[:77] + "..."
