"""Drift classification on synthetic manifests."""

from __future__ import annotations

import copy

import pytest

from builder.ops import drift
from builder.ops.drift import DriftReport, Severity
from builder.record.manifest_read import BenchmarkView, read_manifest
from tests.ops.fakes import synthetic_manifest


def compare_manifests(old: dict | None, new: dict, **options: float) -> DriftReport:
    """:func:`builder.ops.drift.compare_manifests` of two manifests read as the nightly reads them."""
    return drift.compare_manifests(None if old is None else read_manifest(old), read_manifest(new), **options)


def _pair(backend: str = "onnxruntime"):
    old = synthetic_manifest(n=1, backend=backend)
    old["artifacts"] = [
        {"path": "model.onnx", "kind": "onnx", "size": 3, "sha256": "1" * 64},
        {
            "path": "model.plan" if backend == "tensorrt" else "model.ort.onnx",
            "kind": "model",
            "size": 3,
            "sha256": "2" * 64,
        },
        {"path": "metadata.json", "kind": "metadata", "size": 3, "sha256": "3" * 64},
    ]
    new = copy.deepcopy(old)
    new["build_id"] = synthetic_manifest(n=2)["build_id"]
    new["environment"]["image"]["id"] = "sha256:" + "e" * 64  # a from-scratch image rebuild gets a new ID
    return old, new


def _by_key(report):
    return {c.key: c for c in report.changes}


def test_identical_builds_are_no_drift_and_new_image_id_is_informational():
    old, new = _pair()
    report = compare_manifests(old, new)
    assert report.verdict == "no drift" and report.ok
    assert [c.key for c in report.changes] == ["environment.image.id"]
    assert report.changes[0].severity is Severity.INFO


def test_first_build_is_a_baseline():
    _, new = _pair()
    report = compare_manifests(None, new)
    assert report.verdict == "baseline" and report.ok and report.previous_build is None


def test_changed_profile_setting_is_drift_naming_the_key():
    old, new = _pair()
    new["profile"]["resolved"]["verify"]["seed"] = 7
    new["profile"]["sha256"] = "f" * 64
    new["artifacts"][2]["sha256"] = "9" * 64  # consequences of the change are informational
    report = compare_manifests(old, new)
    assert report.verdict == "drift" and not report.ok
    change = _by_key(report)["profile.verify.seed"]
    assert (change.old, change.new, change.severity) == (0, 7, Severity.DRIFT)
    assert _by_key(report)["artifact metadata.json"].severity is Severity.INFO
    assert "profile.verify.seed: 0 -> 7" in report.failing()[0].line()


def test_profile_source_move_alone_is_informational_but_hash_change_still_drifts():
    old, new = _pair()
    new["profile"]["resolved"]["source"] = "/elsewhere/tiny.yaml"
    assert compare_manifests(old, new).verdict == "no drift"
    new["profile"]["sha256"] = "f" * 64  # hash changed without a visible resolved difference
    assert _by_key(compare_manifests(old, new))["profile.sha256"].severity is Severity.DRIFT


@pytest.mark.parametrize(
    "path, value, key",
    [
        (("packages", "ultralytics"), "8.4.0", "packages.ultralytics"),
        (("tensorrt",), "10.0.1", "environment.tensorrt"),
        (("driver",), "550.54", "environment.driver"),
        (("cuda",), "12.4.1", "environment.cuda"),
        (("image", "base"), "base@sha256:" + "0" * 64, "environment.image.base"),
    ],
)
def test_environment_changes_are_drift(path, value, key):
    old, new = _pair()
    target = new["environment"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    change = _by_key(compare_manifests(old, new))[key]
    assert change.severity is Severity.DRIFT and change.new == value


def test_gpu_model_change_is_drift_but_uuid_is_not():
    old, new = _pair("tensorrt")
    new["environment"]["gpus"][0]["uuid"] = "GPU-other-card"
    assert compare_manifests(old, new).verdict == "no drift"
    new["environment"]["gpus"][0].update(name="NVIDIA A100", compute_capability="8.0")
    assert _by_key(compare_manifests(old, new))["environment.gpus"].severity is Severity.DRIFT


def test_changed_weights_are_drift():
    old, new = _pair()
    new["inputs"]["weights"]["sha256"] = "0" * 64
    assert _by_key(compare_manifests(old, new))["inputs.weights.sha256"].severity is Severity.DRIFT


def test_deterministic_artifact_changing_with_identical_inputs_is_a_failure():
    old, new = _pair()
    new["artifacts"][0]["sha256"] = "8" * 64
    report = compare_manifests(old, new)
    assert report.verdict == "regression"
    assert "not reproducible" in _by_key(report)["artifact model.onnx"].reason


def test_tensorrt_plan_bytes_are_informational_but_layers_are_drift():
    old, new = _pair("tensorrt")
    new["artifacts"][1]["sha256"] = "8" * 64  # model.plan
    assert compare_manifests(old, new).verdict == "no drift"
    old["artifacts"].append({"path": "layers.json", "kind": "layers", "size": 3, "sha256": "4" * 64})
    new["artifacts"].append({"path": "layers.json", "kind": "layers", "size": 3, "sha256": "5" * 64})
    assert _by_key(compare_manifests(old, new))["artifact layers.json"].severity is Severity.DRIFT


def test_artifact_added_without_cause_is_drift():
    old, new = _pair()
    new["artifacts"].append({"path": "extra.bin", "kind": "other", "size": 1, "sha256": "6" * 64})
    assert _by_key(compare_manifests(old, new))["artifact extra.bin"].severity is Severity.DRIFT


def test_latency_regression_beyond_threshold_fails_and_within_does_not():
    old, new = _pair("tensorrt")
    new["artifacts"][1]["sha256"] = "7" * 64  # a new TensorRT plan: other bytes (informational by themselves)
    new["stages"][1]["details"]["latency_ms"]["p50"] = 12.5  # +25 %
    report = compare_manifests(old, new, latency_threshold=0.2)
    assert report.verdict == "regression"
    assert "regressed 10.000 -> 12.500 ms (+25.0%) > 20%" in _by_key(report)["latency_ms.p50"].reason
    assert compare_manifests(old, new, latency_threshold=0.3).verdict == "no drift"


def test_a_slower_p50_with_the_same_model_bytes_is_the_machine_not_a_regression():
    """Issue 22: two nights, same model.ort.onnx sha256, p50 5.151 -> 8.574 ms with spread and load under the
    limits paged someone (exit 7)."""
    old, new = _pair()
    for manifest, p50 in ((old, 5.151), (new, 8.574)):
        manifest["stages"][1]["details"].update(p50_spread=0.03, load_per_cpu=0.8, threads=2)
        manifest["stages"][1]["details"]["latency_ms"]["p50"] = p50
    report = compare_manifests(old, new, latency_threshold=0.2)
    assert report.verdict == "no drift"
    change = _by_key(report)["latency_ms.p50"]
    assert change.severity is Severity.INFO
    assert "same model bytes (sha256 222222222222), so the machine, not the build" in change.reason


def test_faster_is_informational_and_method_change_skips_comparison():
    old, new = _pair()
    new["stages"][1]["details"]["latency_ms"]["p50"] = 5.0
    assert _by_key(compare_manifests(old, new))["latency_ms.p50"].severity is Severity.INFO
    new["stages"][1]["details"]["latency_ms"]["p50"] = 50.0
    new["stages"][1]["details"]["method"] = "trtexec"
    report = compare_manifests(old, new)
    assert report.verdict == "no drift" and "benchmark.method" in _by_key(report)


def test_verification_metric_worse_beyond_tolerance_is_drift():
    old, new = _pair()
    outputs = new["stages"][0]["details"]["tensors"]["outputs"]["output0"]
    outputs["max_abs"] = 0.0012  # +20 %, below the absolute floor: informational
    assert compare_manifests(old, new).verdict == "no drift"
    outputs["max_abs"] = 0.005  # 5x worse
    change = _by_key(compare_manifests(old, new))["verify.tensors.outputs.output0.max_abs"]
    assert change.severity is Severity.DRIFT
    new["stages"][0]["details"]["detections"]["images"][0]["agreement"] = 0.2
    assert _by_key(compare_manifests(old, new))["verify.detections.images.0.agreement"].severity is Severity.DRIFT


def test_failed_new_build_is_a_regression_naming_the_stage():
    old, new = _pair()
    new["status"] = "failed"
    new["error"] = {"stage": "verify", "message": "output0 exceeds atol"}
    report = compare_manifests(old, new)
    assert report.verdict == "regression"
    assert report.failing()[0].reason == "build failed in stage verify: output0 exceeds atol"


def test_report_dict_round_trips_severity_values():
    old, new = _pair()
    data = compare_manifests(old, new).to_dict()
    assert data["verdict"] == "no drift"
    assert data["changes"][0]["severity"] == "info"


def _bench(p50: float, **noise) -> BenchmarkView | None:
    manifest = synthetic_manifest()
    latency = {"p50": p50, "p90": p50, "p99": p50}
    manifest["stages"][1]["details"] = {"method": "polygraphy-onnxrt", "latency_ms": latency, **noise}
    return read_manifest(manifest).benchmark


def test_latency_within_the_measured_spread_is_not_a_regression():
    from builder.ops.drift import _latency_changes

    old = _bench(43.0, p50_spread=0.15, load_per_cpu=0.5, threads=2)
    new = _bench(60.0, p50_spread=0.2, load_per_cpu=0.5, threads=2)  # +40 %, but 3 x 20 % spread = 60 %
    assert [c.severity.value for c in _latency_changes(old, new, 0.2)] == ["info", "info", "info"]
    steady = _bench(43.0, p50_spread=0.02, load_per_cpu=0.5, threads=2)
    (p50, *_) = _latency_changes(steady, _bench(60.0, p50_spread=0.02, load_per_cpu=0.5, threads=2), 0.2)
    assert p50.severity.value == "fail" and p50.key == "latency_ms.p50"


def test_a_slower_p50_on_a_loaded_machine_is_recorded_not_judged():
    from builder.ops.drift import _latency_changes

    old = _bench(43.0, p50_spread=0.01, load_per_cpu=0.4, threads=2)
    new = _bench(145.0, p50_spread=0.01, load_per_cpu=3.5, threads=2)
    (p50, *_) = _latency_changes(old, new, 0.2)
    assert p50.severity.value == "info" and "loaded machine (3.50 runnable tasks per CPU" in p50.reason
