"""Pure checks of the profile's ``target`` and ``hardware_compatibility`` against the GPU found.

A TensorRT plan is tuned for (and, unless hardware-compatible, bound to) the GPU it was built on, so a
profile that names a target GPU must be built on that GPU; with ``hardware_compatibility: ampere_plus`` any
Ampere-or-later GPU may build for any Ampere-or-later target.

``target.gpu`` is one name or a list of accepted names, compared with the name the driver reports
(``nvidia-smi --query-gpu=name``, NVML). A name that equals the reported model (``A10G`` for "NVIDIA A10G")
is an **exact** match; a name that is the first whole words of it (``H100`` for "NVIDIA H100 PCIe") is a
**same-family** match: same chip line, but another board (H100 PCIe has 114 SMs, SXM and NVL 132), so the
engine is tuned for the board that built it. Both are accepted and recorded as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from builder.errors import FieldError, HostEnvironmentError, ProfileError
from builder.machine.gpu import GpuInfo
from builder.machine.gpu import parse_compute_capability as _cc
from builder.profile import HardwareCompatibility, Profile

AMPERE = (8, 0)
VENDOR_WORDS = ("nvidia", "tesla", "geforce", "quadro")  # prefixes the driver puts before the model


@dataclass(frozen=True)
class TargetMatch:
    """How the build GPU met ``target``: ``kind`` is "no target", "exact", "same-family" or
    "hardware-compatible (ampere_plus)"; ``accepted`` is the target name that matched ("" when none)."""

    kind: str
    accepted: str = ""
    gpu_name: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "accepted": self.accepted, "gpu": self.gpu_name}


def target_gpu_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``target.gpu`` as a tuple of names (a single string is one name)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def gpu_model(name: str) -> str:
    """The model part of a driver-reported name, lowercased: "NVIDIA GeForce RTX 4090" -> "rtx 4090"."""
    return _model_words(name).lower()


def _model_words(name: str) -> str:
    words = name.split()
    while len(words) > 1 and words[0].lower() in VENDOR_WORDS:
        words.pop(0)
    return " ".join(words)


def gpu_family(name: str) -> str:
    """The chip line of a name: its first word with a digit, less a one-letter suffix ("A10G" -> "a10",
    "L40S" -> "l40", "A100-SXM4-80GB" -> "a100", "RTX 4090" -> "4090")."""
    for word in re.split(r"[\s-]+", gpu_model(name)):
        if re.search(r"\d", word):
            return re.sub(r"(?<=\d)[a-z]$", "", word)
    return gpu_model(name)


def name_match(wanted: str, name: str) -> str | None:
    """ "exact", "same-family" or None: does the target name ``wanted`` accept the GPU called ``name``?

    Exact: the models are equal, case-insensitive, vendor words ignored ("A10" and "NVIDIA A10"; "T4" and
    "Tesla T4"). Same family: ``wanted`` is the first whole words of the model ("H100" and "NVIDIA H100 PCIe",
    "A100" and "NVIDIA A100-SXM4-80GB"); "A10" does not accept "A10G" nor "A100".
    """
    want, model = gpu_model(wanted), gpu_model(name)
    if not want:
        return None
    if want == model:
        return "exact"
    if model.startswith(want) and not model[len(want)].isalnum():
        return "same-family"
    return None


def select_build_gpu(gpus: Sequence[GpuInfo], cuda_visible_devices: str | None) -> GpuInfo | None:
    """The GPU TensorRT will use: CUDA device 0, i.e. the first entry of ``CUDA_VISIBLE_DEVICES`` if set.

    Entries are driver indices or UUIDs (``GPU-…``, prefixes allowed), as CUDA accepts them. Indices follow
    the driver's (PCI bus) order, which CUDA uses only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``: see
    :func:`builder.machine.gpu.pin_cuda_device_order`. Returns None when no GPU is visible (also for
    ``CUDA_VISIBLE_DEVICES=""`` or ``-1``).

    Raises:
        HostEnvironmentError: the first entry is a MIG instance (``MIG-…``), which the driver's GPU list
            cannot describe.
    """
    if cuda_visible_devices is None:
        return min(gpus, key=lambda g: g.index) if gpus else None
    first = cuda_visible_devices.split(",")[0].strip()
    if first.upper().startswith("MIG-"):
        raise HostEnvironmentError(
            f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} selects a MIG instance ({first}); Engine Foundry checks "
            "the target GPU, timing cache and calibration cache against whole GPUs, and a MIG slice has fewer "
            "SMs and less memory than the GPU the driver lists, so its engine would be filed under the wrong GPU",
            hint="select a whole GPU by index or GPU-UUID in CUDA_VISIBLE_DEVICES (`nvidia-smi -L` lists them), "
            "or build on a GPU with MIG mode off (`nvidia-smi -i <index> -mig 0`)",
        )
    if not first or first.startswith("-"):
        return None
    for gpu in gpus:
        if first.isdigit() and gpu.index == int(first):
            return gpu
        if not first.isdigit() and gpu.uuid.startswith(first):
            return gpu
    return None


def _best(names: Sequence[str], gpu_name: str) -> tuple[str, str] | None:
    found = [(kind, wanted) for wanted in names if (kind := name_match(wanted, gpu_name))]
    return min(found, key=lambda pair: pair[0] != "exact") if found else None


def check_target(profile: Profile, gpu: GpuInfo) -> TargetMatch:
    """Check ``profile.target`` against the build GPU; return how it matched (for the manifest).

    Raises:
        HostEnvironmentError: the GPU found is not the target, naming both and what to do. When the GPU is
            of the same chip line as a target name (an A10G for "A10") the hint says to list its name.
    """
    target = profile.target
    names = target_gpu_names(target.gpu) if target else ()
    if target is None or (not names and target.compute_capability is None):
        return TargetMatch("no target")
    matched = _best(names, gpu.name) if names else ("exact", "")
    cc_ok = target.compute_capability is None or _cc(target.compute_capability) == _cc(gpu.compute_capability)
    if matched and cc_ok:
        return TargetMatch(matched[0], matched[1], gpu.name)
    ampere_gpu = (_cc(gpu.compute_capability) or (0, 0)) >= AMPERE
    if profile.hardware_compatibility is HardwareCompatibility.AMPERE_PLUS and ampere_gpu:
        return TargetMatch("hardware-compatible (ampere_plus)", "", gpu.name)
    listed = " or ".join(f"'{n}'" for n in names)
    wanted = " ".join(
        p for p in (listed, target.compute_capability and f"compute capability {target.compute_capability}") if p
    )
    message = (
        f"profile '{profile.name}' targets GPU {wanted}, but this host builds on GPU {gpu.index} "
        f"'{gpu.name}' (compute capability {gpu.compute_capability or 'unknown'})"
    )
    relative = [n for n in names if gpu_family(n) == gpu_family(gpu.name)]
    if relative and cc_ok:
        accepted = ", ".join(f'"{n}"' for n in (*names, _model_words(gpu.name)))
        raise HostEnvironmentError(
            message,
            hint=f"'{gpu.name}' is of the same chip line as {', '.join(repr(n) for n in relative)}: if the engine is "
            f"meant for it, list it in the profile (`target: {{gpu: [{accepted}]}}`) or use a profile made for it; "
            "otherwise build on the target GPU (or select it with CUDA_VISIBLE_DEVICES)",
        )
    raise HostEnvironmentError(
        message,
        hint="build on a host with the target GPU (or select it with CUDA_VISIBLE_DEVICES), or make the profile "
        "hardware-compatible (`hardware_compatibility: ampere_plus`, Ampere or later on both sides), or drop `target`",
    )


def check_hardware_compatibility(profile: Profile, gpu: GpuInfo | None) -> None:
    """Refuse ``ampere_plus`` for a pre-Ampere target or build GPU (compute capability below 8.0).

    Raises:
        ProfileError: the profile's own target is pre-Ampere.
        HostEnvironmentError: the build GPU is pre-Ampere.
    """
    if profile.hardware_compatibility is not HardwareCompatibility.AMPERE_PLUS:
        return
    target_cc = _cc(profile.target.compute_capability) if profile.target else None
    if target_cc is not None and target_cc < AMPERE:
        raise ProfileError(
            [
                FieldError(
                    profile.source,
                    "hardware_compatibility",
                    f"ampere_plus needs an Ampere or later target (compute capability >= 8.0), "
                    f"but target.compute_capability is {profile.target.compute_capability if profile.target else ''}",
                )
            ],
            hint="use `hardware_compatibility: none` for pre-Ampere GPUs",
        )
    gpu_cc = _cc(gpu.compute_capability) if gpu is not None else None
    if gpu is not None and (gpu_cc is None or gpu_cc < AMPERE):
        raise HostEnvironmentError(
            f"profile '{profile.name}' asks for ampere_plus hardware compatibility, which TensorRT builds only on "
            f"Ampere or later GPUs, but this host builds on '{gpu.name}' (compute capability "
            f"{gpu.compute_capability or 'unknown'})",
            hint="build on an Ampere or later GPU (compute capability >= 8.0), or set `hardware_compatibility: none`",
        )
