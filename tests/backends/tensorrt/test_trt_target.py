"""Target and hardware-compatibility checks against the GPU found (pure)."""

from __future__ import annotations

import pytest

from builder.backends.tensorrt.target import (
    check_hardware_compatibility,
    check_target,
    gpu_name_matches,
    select_build_gpu,
)
from builder.errors import HostEnvironmentError, ProfileError
from builder.gpu import GpuInfo
from builder.profile import Backend, HardwareCompatibility, TargetSpec
from tests.backends.tensorrt.trt_fakes import H100, T4
from tests.support import make_profile

A10 = GpuInfo(1, "NVIDIA A10", "GPU-a10a10a1-0000-0000-0000-000000000000", "8.6", 23028, "535.104.05")


def profile(**kw: object):
    return make_profile(backend=Backend.TENSORRT, name="yolo-a10", **kw)


def test_build_gpu_follows_cuda_visible_devices() -> None:
    gpus = (H100, A10)
    assert select_build_gpu(gpus, None) == H100
    assert select_build_gpu(gpus, "1") == A10
    assert select_build_gpu(gpus, "1,0") == A10
    assert select_build_gpu(gpus, "GPU-a10a10a1") == A10
    assert select_build_gpu(gpus, H100.uuid) == H100
    for hidden in ("", "-1", "7", "GPU-nothere"):
        assert select_build_gpu(gpus, hidden) is None
    assert select_build_gpu((), None) is None


def test_gpu_names_match_whole_words_only() -> None:
    assert gpu_name_matches("A10", "NVIDIA A10")
    assert not gpu_name_matches("A10", "NVIDIA A100-SXM4-80GB")
    assert gpu_name_matches("a100", "NVIDIA A100-SXM4-80GB")
    assert gpu_name_matches("H100", H100.name) and gpu_name_matches("RTX 4090", "NVIDIA GeForce RTX 4090")
    assert not gpu_name_matches("T4", "NVIDIA RTX A4000")


def test_target_matches() -> None:
    assert check_target(profile(target=None), H100) == "no target"
    assert check_target(profile(target=TargetSpec()), H100) == "no target"
    assert check_target(profile(target=TargetSpec(gpu="A10", compute_capability="8.6")), A10) == "exact"
    assert check_target(profile(target=TargetSpec(compute_capability="9.0")), H100) == "exact"


def test_wrong_gpu_names_both_and_says_what_to_do() -> None:
    with pytest.raises(HostEnvironmentError) as err:
        check_target(profile(target=TargetSpec(gpu="A10", compute_capability="8.6")), H100)
    message, hint = err.value.message, err.value.hint or ""
    assert "'yolo-a10' targets GPU 'A10' compute capability 8.6" in message
    assert "GPU 0 'NVIDIA H100 80GB HBM3' (compute capability 9.0)" in message
    assert "CUDA_VISIBLE_DEVICES" in hint and "hardware_compatibility: ampere_plus" in hint
    with pytest.raises(HostEnvironmentError, match="compute capability 8.9"):
        check_target(profile(target=TargetSpec(compute_capability="8.9")), A10)


def test_ampere_plus_accepts_any_ampere_or_later_pair() -> None:
    ampere = profile(target=TargetSpec(gpu="A10", compute_capability="8.6"), hardware_compatibility=HardwareCompatibility.AMPERE_PLUS)
    assert check_target(ampere, H100) == "hardware-compatible (ampere_plus)"
    with pytest.raises(HostEnvironmentError):
        check_target(ampere, T4)


def test_ampere_plus_is_refused_for_pre_ampere_targets_and_gpus() -> None:
    compat = HardwareCompatibility.AMPERE_PLUS
    check_hardware_compatibility(profile(hardware_compatibility=compat), H100)
    check_hardware_compatibility(profile(hardware_compatibility=HardwareCompatibility.NONE), T4)
    with pytest.raises(HostEnvironmentError) as err:
        check_hardware_compatibility(profile(hardware_compatibility=compat), T4)
    assert "'Tesla T4' (compute capability 7.5)" in err.value.message and "hardware_compatibility: none" in (err.value.hint or "")
    with pytest.raises(ProfileError) as perr:
        check_hardware_compatibility(profile(hardware_compatibility=compat, target=TargetSpec(compute_capability="7.5")), H100)
    assert perr.value.errors[0].key == "hardware_compatibility" and "7.5" in perr.value.errors[0].message
