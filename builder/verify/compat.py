"""Host compatibility: can the artifact a manifest describes run on this host? A go/no-go.

A TensorRT plan is bound to the GPU's compute capability (unless built
hardware-compatible, Ampere+), to the TensorRT version (unless built
version-compatible: 8 -> 10 and 10 -> 11 across majors) and needs a driver new
enough for the image's CUDA. An ONNX Runtime model (basic optimizations) is
portable; it needs an ONNX Runtime at least as new as the one that saved it.

``verify`` runs :func:`check_report` on every build folder and bundle (``builder.verify.checks``).
Which checks apply is the backend catalogue's ``host_check`` (``builder/backends/catalog.py``):
:func:`check_tensorrt_host` or :func:`check_onnxruntime_host` here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.backends.catalog import find_backend, resolve
from builder.machine.gpu import parse_compute_capability
from builder.record.manifest_read import GpuView, ManifestView

# Minimum driver branch per CUDA major.minor (Linux, the CUDA toolkit's release notes;
# NGC images state the same branch, e.g. 23.08 = CUDA 12.2 = R535).
DRIVER_BRANCH_FOR_CUDA = {
    "11.8": 520, "12.0": 525, "12.1": 530, "12.2": 535, "12.3": 545,
    "12.4": 550, "12.5": 555, "12.6": 560, "12.8": 570,
}  # fmt: skip
VERSION_COMPATIBLE_MAJORS = {8: (8, 10), 10: (10, 11)}  # plan major -> runtime majors that load it


@dataclass(frozen=True)
class HostRequirements:
    """What a host needs to run one artifact (derived from its manifest)."""

    backend: str
    gpu: str | None = None
    compute_capability: str | None = None
    hardware_compatibility: str = "none"  # "none" | "ampere_plus"
    tensorrt: str | None = None
    version_compatible: bool = False
    cuda: str | None = None
    driver_branch: int | None = None
    onnxruntime: str | None = None


@dataclass(frozen=True)
class HostFacts:
    """What this host offers: GPUs as ``{"name", "compute_capability", "driver_version"}`` dicts."""

    gpus: Sequence[Mapping[str, Any]] = ()
    tensorrt: str | None = None
    onnxruntime: str | None = None


@dataclass(frozen=True)
class Verdict:
    name: str  # "gpu", "tensorrt", "driver", "onnxruntime"
    status: str  # "pass" | "fail" | "skip"
    message: str


def requirements_from_manifest(manifest: ManifestView) -> HostRequirements:
    """Derive :class:`HostRequirements` from a manifest (the GPU it was built on, its versions)."""
    resolved, env = manifest.profile.resolved, manifest.environment
    backend = resolved.backend
    if not _needs_gpu(backend):
        return HostRequirements(backend, onnxruntime=env.package("onnxruntime"))
    built_on = manifest.build_gpu or (env.gpus[0] if env.gpus else GpuView(None, None, None))
    cuda = _major_minor(env.cuda)
    return HostRequirements(
        backend,
        gpu=built_on.name,
        compute_capability=_cc_text(built_on.compute_capability),
        hardware_compatibility=resolved.hardware_compatibility or "none",
        tensorrt=env.tensorrt or env.package("tensorrt"),
        version_compatible=bool(resolved.version_compatible),
        cuda=cuda,
        driver_branch=DRIVER_BRANCH_FOR_CUDA.get(cuda or ""),
    )


def check_host(req: HostRequirements, host: HostFacts) -> list[Verdict]:
    """Compare requirements with host facts through the backend's catalogued ``host_check``; every verdict names
    both sides."""
    entry = find_backend(req.backend)
    if entry is None:
        return [
            Verdict(
                "backend",
                "fail",
                f"the manifest names backend {req.backend!r}, which this Engine Foundry does not know",
            )
        ]
    check: Callable[[HostRequirements, HostFacts], list[Verdict]] = resolve(entry.host_check)
    return check(req, host)


def check_onnxruntime_host(req: HostRequirements, host: HostFacts) -> list[Verdict]:
    """The ``host_check`` of the onnxruntime backend: a recent enough ONNX Runtime."""
    return [_check_onnxruntime(req, host)]


def check_tensorrt_host(req: HostRequirements, host: HostFacts) -> list[Verdict]:
    """The ``host_check`` of the tensorrt backend: GPU, TensorRT version, driver."""
    if not host.gpus:
        want = f"{req.gpu or 'an NVIDIA GPU'} (compute capability {req.compute_capability or '?'})"
        return [Verdict("gpu", "fail", f"no NVIDIA GPU found on this host; the engine needs {want}")]
    return [_check_gpu(req, host), _check_tensorrt(req, host), _check_driver(req, host)]


def _check_gpu(req: HostRequirements, host: HostFacts) -> Verdict:
    gpu = _best_gpu(req, host.gpus)
    name, cc = gpu.get("name", "?"), _cc_text(gpu.get("compute_capability"))
    where = f" (GPU {gpu['index']})" if len(host.gpus) > 1 and "index" in gpu else ""
    have = f"this host has {name}{where} (compute capability {cc or '?'})"
    if req.compute_capability is None:
        return Verdict("gpu", "skip", f"the manifest does not say which GPU built the engine; {have}")
    if cc is None:
        return Verdict(
            "gpu",
            "skip",
            f"cannot read this GPU's compute capability; the engine needs {req.compute_capability}; {have}",
        )
    if req.hardware_compatibility == "ampere_plus":
        ok = (parse_compute_capability(cc) or (0, 0)) >= (8, 0)
        rule = "an Ampere or newer GPU (compute capability >= 8.0, hardware-compatible engine)"
        return Verdict("gpu", "pass" if ok else "fail", f"engine needs {rule}; {have}")
    if cc != req.compute_capability:
        return Verdict(
            "gpu", "fail", f"engine was built for compute capability {req.compute_capability} ({req.gpu}); {have}"
        )
    if req.gpu and name != req.gpu:
        return Verdict(
            "gpu", "pass", f"same compute capability {cc}, other model than {req.gpu}: loads, may run slower; {have}"
        )
    return Verdict("gpu", "pass", f"engine built on {req.gpu} (compute capability {cc}); {have}")


def _best_gpu(req: HostRequirements, gpus: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The host GPU that suits the engine best: same model, else same compute capability, else Ampere+ if allowed."""
    ccs = [_cc_text(g.get("compute_capability")) for g in gpus]
    for gpu, cc in zip(gpus, ccs, strict=True):
        if cc == req.compute_capability and gpu.get("name") == req.gpu:
            return gpu
    for gpu, cc in zip(gpus, ccs, strict=True):
        if cc == req.compute_capability or (
            req.hardware_compatibility == "ampere_plus" and (parse_compute_capability(cc) or (0, 0)) >= (8, 0)
        ):
            return gpu
    return gpus[0]


def _check_tensorrt(req: HostRequirements, host: HostFacts) -> Verdict:
    if req.tensorrt is None:
        return Verdict("tensorrt", "skip", "the manifest does not record the TensorRT version")
    if host.tensorrt is None:
        return Verdict(
            "tensorrt", "skip", f"TensorRT is not installed here; the engine needs TensorRT {_needs_trt(req)}"
        )
    have, want = _version_tuple(host.tensorrt), _version_tuple(req.tensorrt)
    if not have or not want:
        return Verdict(
            "tensorrt",
            "skip",
            f"cannot compare TensorRT versions {req.tensorrt!r} (engine) and {host.tensorrt!r} (host)",
        )
    if req.version_compatible:
        majors = VERSION_COMPATIBLE_MAJORS.get(want[0], (want[0],))
        ok = have[:1] in [(m,) for m in majors] and (have[0] != want[0] or have >= want)
    else:
        common = min(len(have), len(want), 4)  # 8.6.1 matches 8.6.1.6
        ok = have[:common] == want[:common]
    message = f"engine needs TensorRT {_needs_trt(req)}; this host has {host.tensorrt}"
    return Verdict("tensorrt", "pass" if ok else "fail", message)


def _check_driver(req: HostRequirements, host: HostFacts) -> Verdict:
    driver = str(host.gpus[0].get("driver_version") or "")
    if req.driver_branch is None:
        return Verdict(
            "driver",
            "skip",
            f"no known minimum driver for CUDA {req.cuda or '?'}; this host has driver {driver or '?'}",
        )
    have = _version_tuple(driver)
    if not have:
        return Verdict(
            "driver",
            "skip",
            f"cannot read the driver version; the engine's image (CUDA {req.cuda}) needs R{req.driver_branch}+",
        )
    ok = have[0] >= req.driver_branch
    message = f"image with CUDA {req.cuda} needs driver R{req.driver_branch} or newer; this host has {driver}"
    if not ok:
        message += " (CUDA forward compatibility is not enabled in the images: upgrade the driver)"
    return Verdict("driver", "pass" if ok else "fail", message)


def _check_onnxruntime(req: HostRequirements, host: HostFacts) -> Verdict:
    want = req.onnxruntime
    if host.onnxruntime is None:
        return Verdict(
            "onnxruntime",
            "skip",
            f"onnxruntime is not installed here; the model needs onnxruntime {want or ''} or newer".replace("  ", " "),
        )
    if want and _version_tuple(host.onnxruntime)[:2] < _version_tuple(want)[:2]:
        return Verdict(
            "onnxruntime", "fail", f"model was saved by onnxruntime {want}; this host has older {host.onnxruntime}"
        )
    return Verdict(
        "onnxruntime",
        "pass",
        f"portable ONNX Runtime model (saved by {want or '?'}); this host has onnxruntime {host.onnxruntime}",
    )


def current_host(*, gpus: bool = True) -> HostFacts:
    """Facts of this host: GPUs (NVML / nvidia-smi; only when ``gpus``), TensorRT and ONNX Runtime versions."""
    from builder.machine.environment import package_versions

    versions = package_versions(("tensorrt", "onnxruntime", "onnxruntime-gpu"))
    found: list[dict[str, Any]] = []
    if gpus:
        from builder.machine.gpu import list_gpus

        found = [gpu.to_dict() for gpu in list_gpus()]
    return HostFacts(found, versions.get("tensorrt"), versions.get("onnxruntime") or versions.get("onnxruntime-gpu"))


def check_report(report: Any, host: HostFacts | None = None) -> None:
    """Add one ``compat-<name>`` check per verdict to a :class:`builder.verify.checks.VerifyReport`."""
    if report.manifest is None:
        return
    req = requirements_from_manifest(report.manifest)
    for verdict in check_host(req, host or current_host(gpus=_needs_gpu(req.backend))):
        report.add(f"compat-{verdict.name}", verdict.status, verdict.message)


def _needs_gpu(backend: str) -> bool:
    entry = find_backend(backend)
    return entry is not None and entry.needs_gpu


def _needs_trt(req: HostRequirements) -> str:
    if not req.version_compatible:
        return f"{req.tensorrt} exactly (not version-compatible)"
    want = _version_tuple(req.tensorrt)
    majors = VERSION_COMPATIBLE_MAJORS.get(want[0], (want[0],)) if want else ()
    later = [m for m in majors if want and m != want[0]]
    return f"{req.tensorrt} or newer" + (
        f", or {later[0]}.x (version-compatible)" if later else " (version-compatible)"
    )


def _cc_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}.{value[1]}"
    text = str(value or "").strip()
    return text if re.fullmatch(r"\d+\.\d+", text) else None


def _major_minor(version: Any) -> str | None:
    match = re.match(r"(\d+)\.(\d+)", str(version or ""))
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _version_tuple(version: str | None) -> tuple[int, ...]:
    match = re.match(r"\d+(\.\d+)*", str(version or "").strip())
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()
