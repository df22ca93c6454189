"""Pure checks of the profile's ``target`` and ``hardware_compatibility`` against the GPU found.

A TensorRT plan is tuned for (and, unless hardware-compatible, bound to) the GPU it was built on, so a
profile that names a target GPU must be built on that GPU; with ``hardware_compatibility: ampere_plus`` any
Ampere-or-later GPU may build for any Ampere-or-later target.
"""

from __future__ import annotations

import re
from typing import Sequence

from builder.errors import FieldError, HostEnvironmentError, ProfileError
from builder.gpu import GpuInfo
from builder.gpu import parse_compute_capability as _cc
from builder.profile import HardwareCompatibility, Profile

AMPERE = (8, 0)


def select_build_gpu(gpus: Sequence[GpuInfo], cuda_visible_devices: str | None) -> GpuInfo | None:
    """The GPU TensorRT will use: CUDA device 0, i.e. the first entry of ``CUDA_VISIBLE_DEVICES`` if set.

    Entries are driver indices or UUIDs (``GPU-…``, prefixes allowed), as CUDA accepts them. Returns None
    when no GPU is visible (also for ``CUDA_VISIBLE_DEVICES=""`` or ``-1``).
    """
    if cuda_visible_devices is None:
        return min(gpus, key=lambda g: g.index) if gpus else None
    first = cuda_visible_devices.split(",")[0].strip()
    if not first or first.startswith("-"):
        return None
    for gpu in gpus:
        if first.isdigit() and gpu.index == int(first):
            return gpu
        if not first.isdigit() and gpu.uuid.startswith(first):
            return gpu
    return None


def gpu_name_matches(wanted: str, name: str) -> bool:
    """Whether ``wanted`` ("A10", "H100", "RTX 4090") names the GPU ``name``, as a whole word.

    Case-insensitive, and bounded by non-alphanumerics, so "A10" matches "NVIDIA A10" but not
    "NVIDIA A100-SXM4-80GB".
    """
    pattern = r"(?<![A-Za-z0-9])" + re.escape(wanted.strip()) + r"(?![A-Za-z0-9])"
    return re.search(pattern, name, flags=re.IGNORECASE) is not None


def check_target(profile: Profile, gpu: GpuInfo) -> str:
    """Check ``profile.target`` against the build GPU; return how it matched (for the manifest).

    Returns one of "no target", "exact", "hardware-compatible (ampere_plus)".

    Raises:
        HostEnvironmentError: the GPU found is not the target, naming both and what to do.
    """
    target = profile.target
    if target is None or (target.gpu is None and target.compute_capability is None):
        return "no target"
    name_ok = target.gpu is None or gpu_name_matches(target.gpu, gpu.name)
    cc_ok = target.compute_capability is None or _cc(target.compute_capability) == _cc(gpu.compute_capability)
    if name_ok and cc_ok:
        return "exact"
    ampere_gpu = (_cc(gpu.compute_capability) or (0, 0)) >= AMPERE
    if profile.hardware_compatibility is HardwareCompatibility.AMPERE_PLUS and ampere_gpu:
        return "hardware-compatible (ampere_plus)"
    wanted = " ".join(
        part
        for part in (
            target.gpu and f"'{target.gpu}'",
            target.compute_capability and f"compute capability {target.compute_capability}",
        )
        if part
    )
    raise HostEnvironmentError(
        f"profile '{profile.name}' targets GPU {wanted}, but this host builds on GPU {gpu.index} "
        f"'{gpu.name}' (compute capability {gpu.compute_capability or 'unknown'})",
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
