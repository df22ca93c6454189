"""The nightly flow with an injected runner (synthetic builds): comparison, failures, image step, retention."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from builder.errors import HostEnvironmentError, UsageError
from builder.ops.nightly import BuildAttempt, NightlyOptions, run_nightly
from builder.record.layout import ArtifactLayout
from tests.ops.fakes import synthetic_manifest, write_build, write_failed

START = datetime(2025, 1, 1, 2, 0, tzinfo=timezone.utc)


class FakeRunner:
    """Publishes a synthetic build per call; ``mutate`` edits its manifest, ``fail`` makes it fail."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts, self.count, self.calls = artifacts, 0, []
        self.mutate = None
        self.fail: str | None = None
        self.model: bytes | None = None  # the published model's bytes (None: the same bytes every night)

    def __call__(self, ref: str) -> BuildAttempt:
        self.count += 1
        self.calls.append(ref)
        if self.fail:
            return BuildAttempt(ref, None, self.fail, write_failed(self.artifacts, ref, self.count))
        manifest = synthetic_manifest(ref, n=self.count)
        if self.mutate:
            self.mutate(manifest)
        files = None
        if self.model is not None:
            files = {"model.onnx": b"onnx-bytes", "model.ort.onnx": self.model, "metadata.json": b"{}"}
        return BuildAttempt(ref, write_build(self.artifacts, manifest, files))


@pytest.fixture
def night(tmp_path, profiles_dir):
    options = NightlyOptions(
        profiles_dir=profiles_dir,
        artifacts=tmp_path / "artifacts",
        reports=tmp_path / "reports",
        profiles=("tiny-cpu",),
        keep=3,
    )
    runner = FakeRunner(options.artifacts)
    nights = iter(range(100))

    def run(**kwargs):
        return run_nightly(options, runner, log=lambda line: None, now=START + timedelta(days=next(nights)), **kwargs)

    return run, runner, options


def test_first_night_is_a_baseline_and_second_identical_night_no_drift(night):
    run, runner, options = night
    first = run()
    assert first.ok and first.data["profiles"][0]["result"] == "baseline"
    second = run()
    assert second.ok and second.failures == []
    entry = second.data["profiles"][0]
    assert entry["result"] == "no drift" and entry["previous_build"] == first.data["profiles"][0]["new_build"]
    assert {p.name for p in second.paths.values()} == {"report.json", "report.md", "report.html"}
    assert second.paths["json"].parent == options.reports / "20250102T020000Z"
    history = json.loads(second.paths["json"].read_text())["history"]["tiny-cpu"]
    assert [p["p50"] for p in history] == [10.0, 10.0]


def test_changed_input_is_drift_with_one_line_naming_profile_and_reason(night):
    run, runner, _ = night
    run()

    def new_seed(manifest):
        manifest["profile"]["resolved"]["verify"]["seed"] = 1
        manifest["profile"]["sha256"] = "e" * 64

    runner.mutate = new_seed
    result = run()
    assert not result.ok
    assert result.failures == ["tiny-cpu: drift: profile.verify.seed: 0 -> 1 (changed profile setting)"]
    runner.mutate = new_seed  # the next night compares with the drifted build: clean again
    assert run().ok


def test_latency_regression_fails_the_night_when_the_model_bytes_changed(night):
    """Without a side-by-side timing (this runner has none) other model bytes are judged on the manifests'
    numbers; with the same bytes a slower p50 is the machine (tests/ops/test_latency_ab.py)."""
    run, runner, _ = night
    run()
    runner.mutate = lambda m: m["stages"][1]["details"]["latency_ms"].update(p50=13.0)
    runner.model = b"other model bytes"
    result = run()
    entry = result.data["profiles"][0]
    assert entry["result"] == "regression" and entry["latency_comparison"]["kind"] == "manifests"
    assert "latency_ms.p50: 10 -> 13 (regressed 10.000 -> 13.000 ms (+30.0%) > 20%)" in entry["reasons"]


def test_failed_build_is_reported_with_its_error_and_plotted_as_failed(night):
    run, runner, _ = night
    run()
    runner.fail = "verify: output0 exceeds atol 0.01"
    result = run()
    assert result.failures == ["tiny-cpu: failed: verify: output0 exceeds atol 0.01"]
    points = result.data["history"]["tiny-cpu"]
    assert [p["status"] for p in points] == ["ok", "failed"]
    assert "×" in result.paths["html"].read_text()


def test_image_rebuild_failure_fails_every_profile_without_building(night):
    run, runner, _ = night

    def broken_image(profiles):
        assert [p.name for p in profiles] == ["tiny-cpu"]
        raise HostEnvironmentError("cannot pull base@sha256:abc", hint="check the network")

    result = run(image_step=broken_image)
    assert runner.calls == []
    assert result.failures == [
        "image: cannot pull base@sha256:abc",
        "tiny-cpu: failed: not built: the image rebuild failed",
    ]
    assert result.data["image"]["status"] == "failed"


def test_image_step_result_is_recorded(night):
    run, _, _ = night
    result = run(
        image_step=lambda profiles: {
            "message": "rebuilt from scratch: cpu sha256:1",
            "images": {"cpu": {"id": "sha256:1"}},
        }
    )
    assert result.ok and result.data["image"] == {
        "status": "rebuilt",
        "message": "rebuilt from scratch: cpu sha256:1",
        "images": {"cpu": {"id": "sha256:1"}},
    }


def test_retention_runs_after_the_comparison(night):
    run, _, options = night
    for _ in range(5):
        run()
    layout = ArtifactLayout(options.artifacts, "tiny-cpu")
    assert len(layout.good_builds()) == 3
    history = json.loads(sorted(options.reports.glob("*/report.json"))[-1].read_text())["history"]["tiny-cpu"]
    assert len(history) == 5  # earlier reports keep pruned builds in the plot


def test_invalid_profile_is_a_failure_line_not_a_crash(tmp_path, profiles_dir):
    options = NightlyOptions(
        profiles_dir=profiles_dir, artifacts=tmp_path / "a", reports=tmp_path / "r", profiles=("no-such-profile",)
    )
    result = run_nightly(options, FakeRunner(tmp_path / "a"), log=lambda line: None, now=START)
    assert len(result.failures) == 1 and result.failures[0].startswith("no-such-profile: failed: invalid profile:")


def test_default_selection_is_every_non_abstract_profile(tmp_path, profiles_dir):
    runner = FakeRunner(tmp_path / "a")
    options = NightlyOptions(profiles_dir=profiles_dir, artifacts=tmp_path / "a", reports=tmp_path / "r")
    run_nightly(options, runner, log=lambda line: None, now=START)
    assert "tiny-cpu" in runner.calls and "cpu-fp32" in runner.calls
    assert not [name for name in runner.calls if name.startswith("_")]


def test_bad_retention_counts_are_refused_before_building(tmp_path, profiles_dir):
    runner = FakeRunner(tmp_path / "a")
    options = NightlyOptions(profiles_dir=profiles_dir, artifacts=tmp_path / "a", reports=tmp_path / "r", keep=0)
    with pytest.raises(UsageError, match="--keep 0"):
        run_nightly(options, runner, log=lambda line: None, now=START)
    assert runner.calls == []


def test_profile_the_host_cannot_build_is_skipped_with_its_reason_not_built_not_failed(night, profiles_dir, tmp_path):
    options = NightlyOptions(profiles_dir=profiles_dir, artifacts=tmp_path / "artifacts", reports=tmp_path / "reports",
                             profiles=("tiny-cpu", "a10-fp16"))  # fmt: skip
    runner, flavours_rebuilt = FakeRunner(options.artifacts), []

    def image_step(profiles):
        flavours_rebuilt.extend(p.backend.value for p in profiles)
        return {"message": "rebuilt", "images": {}}

    def no_gpu(profile):
        return (
            "the tensorrt backend needs an NVIDIA GPU and this host has none"
            if profile.backend.value == "tensorrt"
            else None
        )

    result = run_nightly(options, runner, image_step=image_step, host_check=no_gpu, log=lambda line: None, now=START)
    assert result.ok and result.drifted == [] and runner.calls == ["tiny-cpu"] and flavours_rebuilt == ["onnxruntime"]
    assert result.data["skipped"] == {"a10-fp16": "the tensorrt backend needs an NVIDIA GPU and this host has none"}
    assert [e["result"] for e in result.data["profiles"]] == ["baseline", "skipped"]
    assert "skipped" in result.paths["markdown"].read_text()


def test_an_image_whose_base_cannot_be_had_fails_only_the_profiles_that_need_it(night, profiles_dir, tmp_path):
    options = NightlyOptions(profiles_dir=profiles_dir, artifacts=tmp_path / "artifacts", reports=tmp_path / "reports",
                             profiles=("tiny-cpu", "a10-fp16"))  # fmt: skip
    runner = FakeRunner(options.artifacts)
    result = run_nightly(options, runner, image_step=lambda profiles: {"message": "cpu ok", "images": {"cpu": {}},
                         "failed": {"trt": "base image nvcr.io/nvidia/tensorrt:23.08-py3 is not available"}},
                         log=lambda line: None, now=START)  # fmt: skip
    assert runner.calls == ["tiny-cpu"] and result.drifted == [] and not result.ok
    assert [e["result"] for e in result.data["profiles"]] == ["baseline", "failed"]
    assert result.failures == ["a10-fp16: failed: not built: the trt image could not be rebuilt: base image "
                               "nvcr.io/nvidia/tensorrt:23.08-py3 is not available"]  # fmt: skip


def test_the_previous_good_build_is_named_even_when_the_image_rebuild_failed(night):
    run, runner, _ = night
    first = run()

    def broken_image(profiles):
        raise HostEnvironmentError("cannot pull base", hint="check the network")

    result = run(image_step=broken_image)
    entry = result.data["profiles"][0]
    assert entry["previous_build"] == first.data["profiles"][0]["new_build"] is not None
    assert result.drifted == [] and "No previous good build" not in result.paths["markdown"].read_text()


def test_only_drift_and_regression_count_as_drifted(night):
    run, runner, _ = night
    run()
    runner.fail = "export: boom"
    failed = run()
    assert not failed.ok and failed.drifted == []
    runner.fail = None
    runner.mutate = lambda m: m["stages"][1]["details"]["latency_ms"].update(p50=30.0)
    runner.model = b"other model bytes"
    assert run().drifted == ["tiny-cpu"]


def test_a_farm_bare_build_in_between_is_kept_apart_from_the_container_builds(night):
    """Issue 22 item 5: a farm build with the bare runner (build key of a Python environment, other packages) moved
    `latest`; the next container night compared with it and reported drift. Each kind of environment has its own
    newest good build: the night compares with the newest container build and says why."""
    run, runner, options = night

    def in_the_image(manifest):
        manifest["key_inputs"] = {"environment_id": "deps=" + "1" * 16 + ";base=" + "2" * 16}

    runner.mutate = in_the_image
    first = run()
    farm = synthetic_manifest("tiny-cpu", n=50)
    farm["key_inputs"] = {"environment_id": "bare:" + "3" * 32}
    farm["environment"]["packages"]["onnxruntime"] = "1.20.0"  # the node's own venv
    farm_dir = write_build(options.artifacts, farm)
    assert ArtifactLayout(options.artifacts, "tiny-cpu").latest_dir() == farm_dir.resolve()
    result = run()
    entry = result.data["profiles"][0]
    assert result.ok and entry["result"] == "no drift", entry["reasons"]
    assert entry["previous_build"] == first.data["profiles"][0]["new_build"]
    assert entry["previous_note"] == (
        f"latest ({farm['build_id']}) was built in the bare environment; compared with the newest good image build, "
        f"{entry['previous_build']}"
    )
    assert "previous build: latest (" in result.paths["markdown"].read_text()
