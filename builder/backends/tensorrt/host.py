"""Can this machine build this profile with TensorRT? One check, one error listing everything missing."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from builder.backends.tensorrt import trt_calls
from builder.backends.tensorrt.target import TargetMatch, check_hardware_compatibility, check_target, select_build_gpu
from builder.backends.tensorrt.trtexec import find_trtexec
from builder.backends.tensorrt.versions import (
    TrtFeatures,
    TrtVersion,
    check_profile_supported,
    parse_trt_version,
    trt_image_hint,
)
from builder.errors import HostEnvironmentError
from builder.machine import gpu as gpu_discovery
from builder.machine.gpu import GpuInfo
from builder.profile import Profile

GPU_HINT = (
    "run on a host with an NVIDIA GPU and driver, with the GPU passed to the container "
    "(`docker run --gpus all`; `make engine PROFILE=<profile>` does this)"
)


@dataclass(frozen=True)
class TrtHost:
    """The TensorRT and GPU a build will use."""

    version: TrtVersion
    features: TrtFeatures
    gpu: GpuInfo
    gpus: tuple[GpuInfo, ...]
    gpu_discovery: str  # "nvml" | "nvidia-smi"
    target_match: TargetMatch
    cuda_device_order: str = "PCI_BUS_ID"

    def facts(self) -> dict[str, Any]:
        """What ``check_available`` returns for the manifest."""
        return {
            "tensorrt": str(self.version),
            "tensorrt_family": self.features.family,
            "gpu": self.gpu.to_dict(),
            "gpus": [g.to_dict() for g in self.gpus],
            "gpu_discovery": self.gpu_discovery,
            "cuda_device_order": self.cuda_device_order,
            "target_match": self.target_match.kind,
            "target_accepted": self.target_match.accepted,
            "polygraphy": _package_version("polygraphy"),
            "trtexec": find_trtexec(),
        }


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tensorrt_host(
    profile: Profile, environ: MutableMapping[str, str] | None = None, probe: gpu_discovery.GpuProbe | None = None
) -> TrtHost:
    """Check TensorRT, the GPU (``probe``: the build's one GPU discovery; None: discover now) and the profile's
    TensorRT-specific demands.

    Raises:
        HostEnvironmentError: no usable TensorRT and/or no GPU (both named at once), an unsupported
            TensorRT, a profile needing what this TensorRT removed, the wrong GPU for ``target``,
            or ``ampere_plus`` on a pre-Ampere GPU.
        ProfileError: ``ampere_plus`` with a pre-Ampere target.
    """
    env = os.environ if environ is None else environ
    probe = gpu_discovery.probe_gpus() if probe is None else probe
    device_order = gpu_discovery.pin_cuda_device_order(env, probe.gpus)  # before TensorRT can initialise CUDA
    problems, hints = [], []
    version_text = None
    try:
        version_text = str(trt_calls.import_tensorrt().__version__)
    except ImportError as err:
        problems.append(f"the TensorRT Python package cannot be imported ({err})")
        hints.append(trt_image_hint(profile))
    build_gpu = select_build_gpu(probe.gpus, env.get("CUDA_VISIBLE_DEVICES"))
    if build_gpu is None:
        if probe.gpus:
            why = f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES')!r} selects none of {len(probe.gpus)} GPU(s)"
        else:
            why = "; ".join(probe.problems) or "no GPU reported"
        problems.append(f"no NVIDIA GPU is visible ({why})")
        hints.append(GPU_HINT)
    if problems or version_text is None or build_gpu is None:
        raise HostEnvironmentError(
            f"profile '{profile.name}' (backend tensorrt) cannot be built here: " + "; ".join(problems),
            hint="; ".join(hints),
        )
    try:
        version = parse_trt_version(version_text)
    except ValueError as err:
        raise HostEnvironmentError(f"cannot read the TensorRT version: {err}", hint=trt_image_hint(profile)) from err
    features = check_profile_supported(profile, version)
    check_hardware_compatibility(profile, build_gpu)
    return TrtHost(
        version, features, build_gpu, probe.gpus, probe.method, check_target(profile, build_gpu), device_order
    )
