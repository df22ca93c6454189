"""Target and hardware-compatibility checks against the GPU found (pure)."""

from __future__ import annotations

import pytest

from builder.backends.tensorrt.target import (
    TargetMatch,
    check_hardware_compatibility,
    check_target,
    gpu_family,
    name_match,
    select_build_gpu,
)
from builder.errors import HostEnvironmentError, ProfileError
from builder.machine.gpu import GpuInfo
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


# Names as `nvidia-smi --query-gpu=name` prints them (issue 10's table; cross-checked against nvidia-smi
# lines recorded in public repositories, e.g. "NVIDIA A10G, 23028 MiB, 595.91.07; NVIDIA L4, 23034 MiB, 595.91.07;
# Tesla T4, 15360 MiB, 595.91.07" from an Ollama benchmark log, and RunPod's gpuTypes ids "NVIDIA A100 80GB PCIe",
# "NVIDIA H100 NVL"). Compute capabilities: NVIDIA's CUDA GPUs page. SMs: NVIDIA data sheets (A10 72, A10G 80,
# H100 PCIe 114, H100 SXM5 132, H100 NVL 132).
REAL_NAMES = {
    "NVIDIA A10": "8.6",
    "NVIDIA A10G": "8.6",
    "Tesla T4": "7.5",
    "NVIDIA A100-SXM4-80GB": "8.0",
    "NVIDIA A100 80GB PCIe": "8.0",
    "NVIDIA H100 80GB HBM3": "9.0",
    "NVIDIA H100 PCIe": "9.0",
    "NVIDIA H100 NVL": "9.0",
    "NVIDIA L4": "8.9",
    "NVIDIA L40S": "8.9",
    "NVIDIA GeForce RTX 4090": "8.9",
    # recorded for this test on an H200 host (2026-11-29, driver 580.159.04): `nvidia-smi --query-gpu=index,name,
    # uuid,compute_cap,memory.total,driver_version --format=csv,noheader,nounits` printed
    # "0, NVIDIA H200, GPU-6cae4d7a-fb82-fc70-9f5b-0db4b3e88812, 9.0, 143771, 580.159.04"
    "NVIDIA H200": "9.0",
}

# target.gpu -> {real name: expected match}; names not listed are refused.
EXPECTED = {
    "A10": {"NVIDIA A10": "exact"},
    "A10G": {"NVIDIA A10G": "exact"},
    "T4": {"Tesla T4": "exact"},
    "A100": {"NVIDIA A100-SXM4-80GB": "same-family", "NVIDIA A100 80GB PCIe": "same-family"},
    "A100-SXM4-80GB": {"NVIDIA A100-SXM4-80GB": "exact"},
    "H100": {
        "NVIDIA H100 80GB HBM3": "same-family",
        "NVIDIA H100 PCIe": "same-family",
        "NVIDIA H100 NVL": "same-family",
    },
    "H100 PCIe": {"NVIDIA H100 PCIe": "exact"},
    "h100 nvl": {"NVIDIA H100 NVL": "exact"},
    "L4": {"NVIDIA L4": "exact"},
    "L40S": {"NVIDIA L40S": "exact"},
    "RTX 4090": {"NVIDIA GeForce RTX 4090": "exact"},
    "GeForce RTX 4090": {"NVIDIA GeForce RTX 4090": "exact"},
    "H200": {"NVIDIA H200": "exact"},
}


def gpu(name: str) -> GpuInfo:
    return GpuInfo(0, name, "GPU-00000000-0000-0000-0000-000000000000", REAL_NAMES[name], 24000, "550.54.15")


@pytest.mark.parametrize("wanted", sorted(EXPECTED))
def test_target_names_against_real_nvidia_smi_names(wanted: str) -> None:
    for name in REAL_NAMES:
        assert name_match(wanted, name) == EXPECTED[wanted].get(name), (wanted, name)


def test_h100_boards_are_not_all_exact() -> None:
    h100 = profile(target=TargetSpec(gpu="H100", compute_capability="9.0"))
    for name in ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 NVL"):
        assert check_target(h100, gpu(name)) == TargetMatch("same-family", "H100", name)
    pcie = profile(target=TargetSpec(gpu=("H100 PCIe", "H100"), compute_capability="9.0"))
    assert check_target(pcie, gpu("NVIDIA H100 PCIe")).kind == "exact"
    assert check_target(pcie, gpu("NVIDIA H100 NVL")) == TargetMatch("same-family", "H100", "NVIDIA H100 NVL")


def test_families() -> None:
    assert {gpu_family(n) for n in ("A10", "NVIDIA A10G")} == {"a10"}
    assert gpu_family("NVIDIA A100-SXM4-80GB") == gpu_family("A100") == "a100"
    assert gpu_family("NVIDIA L40S") == "l40" and gpu_family("NVIDIA GeForce RTX 4090") == "4090"


def test_a_list_accepts_every_name_it_holds() -> None:
    a10s = profile(target=TargetSpec(gpu=["A10", "A10G"], compute_capability="8.6"))  # type: ignore[arg-type]
    assert a10s.target is not None and a10s.target.gpu == ("A10", "A10G")
    assert check_target(a10s, gpu("NVIDIA A10")) == TargetMatch("exact", "A10", "NVIDIA A10")
    assert check_target(a10s, gpu("NVIDIA A10G")) == TargetMatch("exact", "A10G", "NVIDIA A10G")
    for other in ("NVIDIA A100 80GB PCIe", "NVIDIA L4", "Tesla T4"):
        with pytest.raises(HostEnvironmentError):
            check_target(a10s, gpu(other))


def test_a_same_family_gpu_gets_a_tip_to_list_it_not_ampere_plus() -> None:
    a10 = profile(target=TargetSpec(gpu="A10", compute_capability="8.6"))
    with pytest.raises(HostEnvironmentError) as err:
        check_target(a10, gpu("NVIDIA A10G"))
    hint = err.value.hint or ""
    assert "'yolo-a10' targets GPU 'A10' compute capability 8.6" in err.value.message
    assert 'target: {gpu: ["A10", "A10G"]}' in hint and "ampere_plus" not in hint


def test_shipped_a10_profiles_accept_a10_and_a10g() -> None:
    from builder.profile import load_profile
    from tests.support import REPO

    for name in ("a10-fp16", "a10-fp32", "a10-int8"):
        shipped = load_profile(name, REPO / "profiles")
        for real in ("NVIDIA A10", "NVIDIA A10G"):
            assert check_target(shipped, gpu(real)).kind == "exact"


def test_target_matches() -> None:
    assert check_target(profile(target=None), H100).kind == "no target"
    assert check_target(profile(target=TargetSpec()), H100).kind == "no target"
    assert check_target(profile(target=TargetSpec(gpu="A10", compute_capability="8.6")), A10).kind == "exact"
    assert check_target(profile(target=TargetSpec(compute_capability="9.0")), H100).kind == "exact"


def test_wrong_gpu_names_both_and_says_what_to_do() -> None:
    with pytest.raises(HostEnvironmentError) as err:
        check_target(profile(target=TargetSpec(gpu="A10", compute_capability="8.6")), H100)
    message, hint = err.value.message, err.value.hint or ""
    assert "'yolo-a10' targets GPU 'A10' compute capability 8.6" in message
    assert "GPU 0 'NVIDIA H100 80GB HBM3' (compute capability 9.0)" in message
    assert "CUDA_VISIBLE_DEVICES" in hint and "hardware_compatibility: ampere_plus" in hint
    with pytest.raises(HostEnvironmentError, match="compute capability 8.9"):
        check_target(profile(target=TargetSpec(compute_capability="8.9")), A10)


def test_mig_instances_in_cuda_visible_devices_are_refused_clearly() -> None:
    # Forms from NVIDIA's MIG user guide: "MIG-<UUID>" (R470+) and "MIG-GPU-<UUID>/<GI>/<CI>" (R450).
    for visible in ("MIG-c6ad4ac5-5d9b-5a3e-a1b0-4e8a4c4b8e2a", "MIG-GPU-d3f64188-fbdf-307f-4650-342a3ebaefd5/1/0"):
        with pytest.raises(HostEnvironmentError) as err:
            select_build_gpu((H100,), visible)
        assert "MIG instance" in err.value.message and "nvidia-smi -L" in (err.value.hint or "")


def test_ampere_plus_accepts_any_ampere_or_later_pair() -> None:
    ampere = profile(
        target=TargetSpec(gpu="A10", compute_capability="8.6"), hardware_compatibility=HardwareCompatibility.AMPERE_PLUS
    )
    assert check_target(ampere, H100).kind == "hardware-compatible (ampere_plus)"
    with pytest.raises(HostEnvironmentError):
        check_target(ampere, T4)


def test_ampere_plus_is_refused_for_pre_ampere_targets_and_gpus() -> None:
    compat = HardwareCompatibility.AMPERE_PLUS
    check_hardware_compatibility(profile(hardware_compatibility=compat), H100)
    check_hardware_compatibility(profile(hardware_compatibility=HardwareCompatibility.NONE), T4)
    with pytest.raises(HostEnvironmentError) as err:
        check_hardware_compatibility(profile(hardware_compatibility=compat), T4)
    assert "'Tesla T4' (compute capability 7.5)" in err.value.message and "hardware_compatibility: none" in (
        err.value.hint or ""
    )
    with pytest.raises(ProfileError) as perr:
        check_hardware_compatibility(
            profile(hardware_compatibility=compat, target=TargetSpec(compute_capability="7.5")), H100
        )
    assert perr.value.errors[0].key == "hardware_compatibility" and "7.5" in perr.value.errors[0].message
