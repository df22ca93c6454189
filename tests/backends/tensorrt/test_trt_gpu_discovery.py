"""builder.machine.gpu: NVML / nvidia-smi discovery, checked against output recorded on a real H100 host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.machine import gpu
from builder.machine.gpu import GpuInfo, gpu_identity, parse_cuda_version, parse_nvidia_smi_csv

DATA = Path(__file__).parent / "data"


def recorded_h100() -> list[GpuInfo]:
    return parse_nvidia_smi_csv((DATA / "h100-nvidia-smi-query.csv").read_text())


def test_nvidia_smi_csv_of_a_real_h100_parses_to_what_nvml_reported_on_the_same_host() -> None:
    from_smi = recorded_h100()
    from_nvml = [GpuInfo(**item) for item in json.loads((DATA / "h100-nvml-probe.json").read_text())]
    assert from_smi == from_nvml
    (h100,) = from_smi
    assert (h100.index, h100.name, h100.compute_capability) == (0, "NVIDIA H100 80GB HBM3", "9.0")
    assert h100.memory_total_mib == 81559 and h100.driver_version == "580.159.04"
    assert h100.uuid.startswith("GPU-") and h100.cc_tuple == (9, 0)


def test_several_gpus_old_driver_fields_and_bad_lines() -> None:
    text = "0, NVIDIA A10, GPU-aaa, 8.6, 23028, 535.104.05\n\n1, Tesla T4, GPU-bbb, [N/A], [N/A], 535.104.05\n"
    a10, t4 = parse_nvidia_smi_csv(text)
    assert (a10.name, a10.cc_tuple, t4.index) == ("NVIDIA A10", (8, 6), 1)
    assert (t4.compute_capability, t4.memory_total_mib, t4.cc_tuple) == ("", 0, None)
    no_cc = ("index", "name", "uuid", "memory.total", "driver_version")
    (old,) = parse_nvidia_smi_csv("0, Tesla P100-PCIE-16GB, GPU-ccc, 16280, 470.82.01", no_cc)
    assert (old.name, old.compute_capability, old.memory_total_mib) == ("Tesla P100-PCIE-16GB", "", 16280)
    with pytest.raises(ValueError, match="want 6 fields"):
        parse_nvidia_smi_csv((DATA / "nvidia-smi-bad-field.txt").read_text())


def test_old_driver_without_compute_cap_field_is_queried_again_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def fake_run(args: list[str]) -> str:
        asked.append(args)
        if "compute_cap" in args[1]:
            raise RuntimeError((DATA / "nvidia-smi-bad-field.txt").read_text().replace("bogus_field", "compute_cap"))
        return "0, Tesla V100-SXM2-16GB, GPU-ddd, 16160, 470.82.01\n"

    monkeypatch.setattr(gpu, "_run_nvidia_smi", fake_run)
    (v100,) = gpu._gpus_from_nvidia_smi()
    assert len(asked) == 2 and "compute_cap" not in asked[1][1]
    assert (v100.name, v100.compute_capability) == ("Tesla V100-SXM2-16GB", "")


def test_cuda_version_from_the_recorded_banner() -> None:
    assert parse_cuda_version((DATA / "h100-nvidia-smi-banner.txt").read_text()) == "13.0"
    assert parse_cuda_version("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.") is None


def test_identity_names_models_not_cards() -> None:
    (h100,) = recorded_h100()
    other_card = GpuInfo(0, h100.name, "GPU-ffff", "9.0", 81000, "550.54.15")
    assert gpu_identity([h100]) == gpu_identity([other_card]) == "NVIDIA H100 80GB HBM3 (cc 9.0)"
    assert gpu_identity([]) == "none"
    t4 = GpuInfo(1, "Tesla T4", "GPU-1", "7.5", 15360, "535")
    assert gpu_identity([t4, h100]) == "NVIDIA H100 80GB HBM3 (cc 9.0); Tesla T4 (cc 7.5)"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this host has nvidia-smi")
def test_this_gpu_less_host_reports_no_gpu_and_why() -> None:
    probe = gpu.probe_gpus()
    assert probe.gpus == () and probe.method == "none"
    assert any(p.startswith("NVML") for p in probe.problems)
    assert "nvidia-smi: not on PATH" in probe.problems
    assert gpu.list_gpus() == [] and gpu.cuda_driver_version() is None


def test_a_failing_nvidia_smi_gives_no_gpu_and_its_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\nexit 9\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gpu, "_gpus_from_nvml", lambda: (_ for _ in ()).throw(ImportError("no pynvml")))
    probe = gpu.probe_gpus()
    assert probe.gpus == () and probe.method == "none"
    assert any("couldn't communicate with the NVIDIA driver" in p for p in probe.problems)


def test_a_working_nvidia_smi_is_used_when_nvml_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\ncat '{DATA / 'h100-nvidia-smi-query.csv'}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(gpu, "_gpus_from_nvml", lambda: (_ for _ in ()).throw(ImportError("no pynvml")))
    probe = gpu.probe_gpus()
    assert probe.method == "nvidia-smi" and list(probe.gpus) == recorded_h100()
