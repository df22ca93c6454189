"""Host compatibility go/no-go with fake GPU lists."""

from __future__ import annotations

import pytest

from builder.record.manifest_read import read_manifest
from builder.verify.checks import VerifyReport
from builder.verify.compat import HostFacts, check_host, check_report, requirements_from_manifest
from tests.ops.fakes import synthetic_manifest

A10 = {"name": "NVIDIA A10", "compute_capability": "8.6", "driver_version": "535.104.05"}
A10G = {"name": "NVIDIA A10G", "compute_capability": "8.6", "driver_version": "535.104.05"}
T4 = {"name": "Tesla T4", "compute_capability": "7.5", "driver_version": "535.104.05"}
H100 = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "driver_version": "550.54.15"}


def _trt(**resolved):
    manifest = synthetic_manifest("a10-fp16", backend="tensorrt")
    manifest["profile"]["resolved"].update(resolved)
    return requirements_from_manifest(read_manifest(manifest))


def _verdicts(req, host):
    return {v.name: v for v in check_host(req, host)}


def test_requirements_come_from_the_manifest():
    req = _trt()
    assert (req.gpu, req.compute_capability, req.tensorrt, req.cuda, req.driver_branch) == (
        "NVIDIA A10",
        "8.6",
        "8.6.1",
        "12.2",
        535,
    )


def test_matching_host_is_a_go():
    verdicts = _verdicts(_trt(), HostFacts([A10], tensorrt="8.6.1"))
    assert {v.status for v in verdicts.values()} == {"pass"}


def test_other_compute_capability_is_a_no_go_naming_both_sides():
    verdict = _verdicts(_trt(), HostFacts([T4], tensorrt="8.6.1"))["gpu"]
    assert verdict.status == "fail"
    assert (
        "compute capability 8.6 (NVIDIA A10)" in verdict.message
        and "Tesla T4 (compute capability 7.5)" in verdict.message
    )


def test_same_compute_capability_other_model_loads_with_a_note():
    verdict = _verdicts(_trt(), HostFacts([A10G], tensorrt="8.6.1"))["gpu"]
    assert verdict.status == "pass" and "other model" in verdict.message


def test_hardware_compatible_engine_runs_on_any_ampere_plus_gpu_only():
    req = _trt(hardware_compatibility="ampere_plus")
    assert _verdicts(req, HostFacts([H100], tensorrt="8.6.1"))["gpu"].status == "pass"
    assert _verdicts(req, HostFacts([T4], tensorrt="8.6.1"))["gpu"].status == "fail"


@pytest.mark.parametrize("host_trt, ok", [("8.6.1", True), ("8.6.1.6", True), ("8.6.0", False), ("10.0.1", False)])
def test_tensorrt_must_match_exactly_without_version_compatibility(host_trt, ok):
    verdict = _verdicts(_trt(), HostFacts([A10], tensorrt=host_trt))["tensorrt"]
    assert verdict.status == ("pass" if ok else "fail")
    assert "8.6.1 exactly" in verdict.message and host_trt in verdict.message


@pytest.mark.parametrize("host_trt, ok", [("8.6.3", True), ("10.0.1", True), ("8.5.3", False), ("11.0.0", False)])
def test_version_compatible_engine_loads_on_newer_tensorrt_and_the_next_major(host_trt, ok):
    verdict = _verdicts(_trt(version_compatible=True), HostFacts([A10], tensorrt=host_trt))["tensorrt"]
    assert verdict.status == ("pass" if ok else "fail")


def test_old_driver_is_a_no_go_naming_the_minimum_branch():
    old_driver = {**A10, "driver_version": "525.85.12"}
    verdict = _verdicts(_trt(), HostFacts([old_driver], tensorrt="8.6.1"))["driver"]
    assert verdict.status == "fail" and "R535" in verdict.message and "525.85.12" in verdict.message


def test_no_gpu_is_a_single_no_go_line():
    verdicts = check_host(_trt(), HostFacts([], tensorrt=None))
    assert len(verdicts) == 1 and verdicts[0].status == "fail"
    assert (
        verdicts[0].message == "no NVIDIA GPU found on this host; the engine needs NVIDIA A10 (compute capability 8.6)"
    )


def test_missing_tensorrt_is_skipped_not_passed():
    assert _verdicts(_trt(), HostFacts([A10], tensorrt=None))["tensorrt"].status == "skip"


def test_cpu_model_needs_an_onnxruntime_at_least_as_new():
    req = requirements_from_manifest(read_manifest(synthetic_manifest("cpu")))
    assert check_host(req, HostFacts([], onnxruntime="1.17.0"))[0].status == "pass"
    old = check_host(req, HostFacts([], onnxruntime="1.15.1"))[0]
    assert old.status == "fail" and "1.16.3" in old.message
    assert check_host(req, HostFacts([], onnxruntime=None))[0].status == "skip"


def test_report_hook_adds_one_check_per_verdict(tmp_path):
    report = VerifyReport(tmp_path, manifest=read_manifest(synthetic_manifest("a10-fp16", backend="tensorrt")))
    check_report(report, HostFacts([T4], tensorrt="8.6.1"))
    assert [c.name for c in report.checks] == ["compat-gpu", "compat-tensorrt", "compat-driver"]
    assert not report.ok


def test_on_a_multi_gpu_host_the_matching_gpu_is_chosen_and_named():
    t4 = {**T4, "index": 0}
    a10 = {**A10, "index": 1}
    verdict = _verdicts(_trt(), HostFacts([t4, a10], tensorrt="8.6.1"))["gpu"]
    assert verdict.status == "pass" and "NVIDIA A10 (GPU 1)" in verdict.message
    verdict = _verdicts(_trt(), HostFacts([t4, {**H100, "index": 1}], tensorrt="8.6.1"))["gpu"]
    assert verdict.status == "fail" and "Tesla T4 (GPU 0)" in verdict.message


def test_cpu_artifacts_do_not_probe_gpus(monkeypatch):
    import builder.machine.gpu

    def no_probe():
        raise AssertionError("GPU discovery must not run for an ONNX Runtime model")

    monkeypatch.setattr(builder.machine.gpu, "list_gpus", no_probe)
    from builder.verify import compat

    report = VerifyReport(None, manifest=read_manifest(synthetic_manifest("cpu")))  # type: ignore[arg-type]
    compat.check_report(report)
    assert [c.name for c in report.checks] == ["compat-onnxruntime"]
    assert compat.current_host(gpus=False).gpus == []
