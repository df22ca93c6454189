"""Which build of a fleet bundle fits this host best: a pure function of recorded host facts and manifests.

Order (first wins; ties go to the build listed first in the fleet):

1. **exact GPU**: a TensorRT plan built on this GPU model (same name as the driver reports it, same compute
   capability);
2. **same family**: built on another board of the same chip line (H100 PCIe for an H100 SXM, A10 for an A10G),
   same compute capability: tuned for the other board;
3. **same compute capability**: another model with this compute capability: loads, may run slower;
4. **portable plan**: a hardware-compatible plan (``ampere_plus``) on an Ampere or later GPU;
5. **CPU**: an ONNX Runtime model.

Within 1-4 a plan of the host's own TensorRT version comes before a version-compatible plan of another one.
A build fits only when :func:`builder.verify.compat.check_host` finds nothing wrong (compute capability, TensorRT
version, driver, ONNX Runtime version) and, for a TensorRT plan, the host's machine architecture is the one it was
built on. A check that cannot run here (no TensorRT installed) does not rule a build out: ``verify`` then says
UNVERIFIED. When no build fits, :attr:`Selection.wanted` names the profile ``target`` to build for this host.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.backends.catalog import needs_gpu
from builder.backends.tensorrt.target import VENDOR_WORDS, gpu_family, gpu_model
from builder.machine.gpu import parse_compute_capability
from builder.record.manifest_read import ManifestView
from builder.verify.compat import HostFacts, HostRequirements, check_host, requirements_from_manifest

EXACT, FAMILY, SAME_CC, PORTABLE, CPU = range(5)
MATCH_WORDS = {
    EXACT: "exact GPU",
    FAMILY: "same GPU family",
    SAME_CC: "same compute capability",
    PORTABLE: "portable plan",
    CPU: "CPU",
}


@dataclass(frozen=True)
class HostRecord:
    """The host facts selection reads: GPUs as ``GpuInfo.to_dict()`` dicts, TensorRT and ONNX Runtime versions,
    the machine architecture (``platform.machine()``). Recorded as JSON for tests (:meth:`from_dict`)."""

    gpus: tuple[Mapping[str, Any], ...] = ()
    tensorrt: str | None = None
    onnxruntime: str | None = None
    machine: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostRecord:
        return cls(tuple(data.get("gpus") or ()), data.get("tensorrt"), data.get("onnxruntime"), data.get("machine"))

    def facts(self) -> HostFacts:
        return HostFacts(self.gpus, self.tensorrt, self.onnxruntime)

    def describe(self) -> str:
        gpus = [
            f"GPU {g.get('index', i)} {g.get('name', '?')} (compute capability {g.get('compute_capability') or '?'}, "
            f"driver {g.get('driver_version') or '?'})"
            for i, g in enumerate(self.gpus)
        ] or ["no NVIDIA GPU"]
        runtimes = [
            f"TensorRT {self.tensorrt}" if self.tensorrt else "no TensorRT",
            f"onnxruntime {self.onnxruntime}" if self.onnxruntime else "no onnxruntime",
        ]
        return ", ".join([*gpus, *runtimes, self.machine or "machine ?"])


def current_host_record() -> HostRecord:
    """This host's facts (NVML / ``nvidia-smi``, installed package versions, the machine architecture)."""
    from builder.verify.compat import current_host

    facts = current_host(gpus=True)
    return HostRecord(tuple(facts.gpus), facts.tensorrt, facts.onnxruntime, platform.machine() or None)


@dataclass(frozen=True)
class Candidate:
    """One build of the fleet, as selection sees it (:func:`candidate_from_manifest`)."""

    profile: str
    build_id: str
    backend: str
    requirements: HostRequirements
    target_names: tuple[str, ...] = ()
    machine: str | None = None


def candidate_from_manifest(manifest: ManifestView) -> Candidate:
    """Every manifest field selection reads, in one place (the host needs come from
    :func:`builder.verify.compat.requirements_from_manifest`)."""
    return Candidate(
        profile=manifest.profile.name,
        build_id=manifest.build_id,
        backend=manifest.profile.resolved.backend,
        requirements=requirements_from_manifest(manifest),
        target_names=manifest.profile.resolved.target.gpus,
        machine=manifest.environment.machine,
    )


@dataclass(frozen=True)
class Rating:
    """How one candidate fits the host: ``rank`` (lower is better; None: it does not fit) and why."""

    candidate: Candidate
    rank: tuple[int, int, int] | None
    reason: str

    @property
    def fits(self) -> bool:
        return self.rank is not None


@dataclass(frozen=True)
class Selection:
    chosen: Rating | None
    ratings: tuple[Rating, ...]  # every candidate, in fleet order
    wanted: str | None = None  # the profile to build for this host when no GPU build fits a GPU host, or none fits
    passed_over: tuple[Rating, ...] = field(default=())


def select_build(host: HostRecord, candidates: Sequence[Candidate]) -> Selection:
    """The best-fitting candidate for ``host`` (see the module docstring), every candidate's rating, and, when no
    build fits (or only a CPU build fits a GPU host), the profile to build for this host."""
    ratings = tuple(rate(host, c, i) for i, c in enumerate(candidates))
    fitting = sorted((r for r in ratings if r.rank is not None), key=lambda r: r.rank or (0, 0, 0))
    chosen = fitting[0] if fitting else None
    gpu_fits = chosen is not None and chosen.rank is not None and chosen.rank[0] != CPU
    wanted = None if gpu_fits or (chosen is not None and not host.gpus) else wanted_profile(host, ratings)
    return Selection(chosen, ratings, wanted, tuple(r for r in ratings if r is not chosen))


def rate(host: HostRecord, candidate: Candidate, order: int) -> Rating:
    """How ``candidate`` fits ``host``; ``order``: its place in the fleet (the last tie-breaker)."""
    verdicts = check_host(candidate.requirements, host.facts())
    failed = [v.message for v in verdicts if v.status == "fail"]
    unchecked = [v.message for v in verdicts if v.status == "skip"]
    gpu = needs_gpu(candidate.backend)
    if gpu and candidate.machine and host.machine and candidate.machine != host.machine:
        failed.append(f"plan built on a {candidate.machine} machine; this host is {host.machine}")
    if failed:
        return Rating(candidate, None, "does not fit: " + "; ".join(failed))
    note = f" (not checked here: {'; '.join(unchecked)})" if unchecked else ""
    if not gpu:
        return Rating(candidate, (CPU, 0, order), f"{MATCH_WORDS[CPU]}: {verdicts[0].message}{note}")
    match, words = _gpu_match(candidate.requirements, host.gpus)
    req = candidate.requirements
    other_trt = bool(req.version_compatible and host.tensorrt and req.tensorrt and not _same_trt(req, host))
    trt = f"; version-compatible plan of TensorRT {req.tensorrt} on TensorRT {host.tensorrt}" if other_trt else ""
    return Rating(candidate, (match, int(other_trt), order), f"{MATCH_WORDS[match]}: {words}{trt}{note}")


def _gpu_match(req: HostRequirements, gpus: Sequence[Mapping[str, Any]]) -> tuple[int, str]:
    """The best match of the plan's build GPU with any host GPU, and a sentence naming both."""
    built = f"built on {req.gpu or '?'} (compute capability {req.compute_capability or '?'})"
    best: tuple[int, str] | None = None
    for i, gpu in enumerate(gpus):
        name, cc = str(gpu.get("name", "?")), _cc(gpu.get("compute_capability"))
        here = f"this host's GPU {gpu.get('index', i)} is {name} (compute capability {cc or '?'})"
        same_cc = cc is None or req.compute_capability is None or cc == req.compute_capability
        if req.gpu and same_cc and gpu_model(name) == gpu_model(req.gpu):
            match = EXACT
        elif req.gpu and same_cc and gpu_family(name) == gpu_family(req.gpu):
            match = FAMILY
        elif same_cc and req.compute_capability is not None:
            match = SAME_CC
        elif req.hardware_compatibility == "ampere_plus" and (parse_compute_capability(cc) or (0, 0)) >= (8, 0):
            match = PORTABLE
        else:
            continue
        if best is None or match < best[0]:
            best = (match, f"{built}; {here}")
    if best is None:  # compat passed without naming a GPU (the manifest does not record one): least certain
        return PORTABLE, f"{built}; the manifest does not say which GPU built it"
    return best


def wanted_profile(host: HostRecord, ratings: Sequence[Rating]) -> str:
    """What to build so that this host has a build: the profile ``target`` for its first GPU (CUDA device 0 by
    default), else a CPU profile (or a newer ONNX Runtime, when the fleet's CPU builds need one)."""
    if host.gpus:
        gpu = host.gpus[0]
        cc = _cc(gpu.get("compute_capability")) or "<nvidia-smi --query-gpu=compute_cap>"
        trt = f', `tensorrt: "{host.tensorrt.split(".")[0]}"`' if host.tensorrt else ""
        return (
            f'a TensorRT profile with `target: {{gpu: "{_model_of(str(gpu.get("name", "?")))}", '
            f'compute_capability: "{cc}"}}`{trt} (e.g. `extends: _tensorrt-base`), built on this GPU'
        )
    newer = [
        str(r.candidate.requirements.onnxruntime)
        for r in ratings
        if not needs_gpu(r.candidate.backend) and r.candidate.requirements.onnxruntime and not r.fits
    ]
    if newer and host.onnxruntime:
        return (
            f"a CPU profile (`backend: onnxruntime`, e.g. cpu-fp32) built with onnxruntime {host.onnxruntime} or "
            f"older, or onnxruntime {min(newer, key=_version)} or newer on this host"
        )
    return "a CPU profile (`backend: onnxruntime`, e.g. cpu-fp32)" + (
        "" if host.onnxruntime else ", and ONNX Runtime on this host (`scripts/setup-env verify`)"
    )


def _model_of(name: str) -> str:
    """The driver's GPU name less the vendor words, as a profile's ``target.gpu`` names it ("H100 80GB HBM3")."""
    words = name.split()
    while len(words) > 1 and words[0].lower() in VENDOR_WORDS:
        words.pop(0)
    return " ".join(words)


def _same_trt(req: HostRequirements, host: HostRecord) -> bool:
    have, want = _version(host.tensorrt or ""), _version(req.tensorrt or "")
    common = min(len(have), len(want), 4)
    return have[:common] == want[:common]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _cc(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if parse_compute_capability(text) else None
