"""The profiles shipped in profiles/: all load, with the values the docs promise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from builder.errors import ProfileError
from builder.profile import (
    DEFAULT_PROFILE,
    Backend,
    BatchSpec,
    Precision,
    TargetSpec,
    document_from_profile,
    list_profiles,
    load_profile,
)
from builder.profile.fields import PRECISION_DEFAULTS
from tests.profile.helpers import PROFILES, error_text
from tests.support import shipped_files

GPU = ["a10-fp16", "a10-fp32", "a10-int8", "t4-fp16", "a100-fp16-dynamic", "h100-fp16", "h100-fp8", "b200-fp16"]
BUILDABLE = ["cpu-fp32", *GPU]
FINAL_DETECTIONS = {"cpu-fp32-shapes-nms", "cpu-fp32-yolo26-e2e", "a10-fp16-e2e"}  # outputs.nms (test_nms_field.py)
TARGETS = {
    "a10": (("A10", "A10G"), "8.6"),
    "t4": ("T4", "7.5"),
    "a100": ("A100", "8.0"),
    "h100": ("H100", "9.0"),
    "b200": ("B200", "10.0"),
}


def test_shipped_set_is_exactly_the_documented_one(tmp_path: Path) -> None:
    """What git tracks in profiles/ (a user's own profile there is not part of the shipped set)."""
    for path in shipped_files("profiles", "*.yaml"):
        shutil.copy(path, tmp_path)
    listed = {item.name for item in list_profiles(tmp_path) if not item.abstract}
    # the trained fixture model (tests/fixture_trainer) and its mAP-gated INT8 builds (tests/accuracy), and the task
    # fixtures' FP32 and INT8 builds (tests/fixture_trainer/test_task_gates.py, docs/tasks.md)
    tasks = {f"cpu-{p}-{t}" for p in ("fp32", "int8") for t in ("segment", "pose", "obb", "classify")}
    gpu_tasks = {"a10-fp16-segment"}  # issue 18: a GPU profile of a non-detect task
    assert (
        listed
        == set(BUILDABLE) | {"cpu-fp32-shapes", "cpu-int8", "cpu-int8-search"} | FINAL_DETECTIONS | tasks | gpu_tasks
    )


def test_the_gpu_segment_profile_builds_the_trained_segment_fixture_gated_on_mask_map() -> None:
    gpu, cpu = load_profile("a10-fp16-segment", PROFILES), load_profile("cpu-fp32-segment", PROFILES)
    assert gpu.backend is Backend.TENSORRT and gpu.precision is Precision.FP16 and gpu.task == "segment"
    assert gpu.model == cpu.model and gpu.imgsz == cpu.imgsz and gpu.accuracy == cpu.accuracy
    assert gpu.target == TargetSpec(gpu=("A10", "A10G"), compute_capability="8.6")
    assert all((PROFILES.parent / "models" / image).is_file() for image in gpu.verify.images)


@pytest.mark.parametrize("name", BUILDABLE)
def test_shipped_profile_loads(name: str) -> None:
    profile = load_profile(name, PROFILES)
    assert profile.name == name
    assert profile.task == "detect"
    assert profile.opset == 17
    assert Path(profile.source) == PROFILES / f"{name}.yaml"
    assert Path(profile.extends_chain[-1]) == PROFILES / f"{name}.yaml"
    assert profile.description
    tolerance = PRECISION_DEFAULTS[profile.precision.value]["tolerance"]
    if name not in (
        "a10-int8",
        "h100-fp8",
    ):  # INT8 and FP8: the mAP gate is the accuracy check (test_dynamic_and_int8_profiles)
        assert profile.verify.tolerance_for("output0").atol == tolerance["atol"]


def test_the_untrained_smoke_profile_stays() -> None:
    profile = load_profile("cpu-fp32", PROFILES)
    assert profile.model.yaml == "yolo11n.yaml" and profile.model.seed == 0 and profile.model.checkpoint is None
    assert profile.imgsz == (640, 640) and profile.accuracy is None


@pytest.mark.parametrize("name", GPU)
def test_gpu_profiles_build_the_trained_fixture_and_gate_it_on_map(name: str) -> None:
    """Issue 17: an untrained model's FP16 check passes whatever the engine does; the GPU profiles check a trained
    model, on images with objects it knows, and gate it on mAP (margins measured on a GPU: docs/tensorrt.md)."""
    profile, default = load_profile(name, PROFILES), load_profile(DEFAULT_PROFILE, PROFILES)
    assert profile.model == default.model and profile.model.checkpoint  # the pinned trained checkpoint
    assert profile.imgsz == default.imgsz == (256, 256)  # the size it was trained at (0.92 mAP; 0.53 at 640)
    assert profile.accuracy == default.accuracy and profile.accuracy is not None
    assert profile.accuracy.min_map50_95 is not None
    known = [image for image in profile.verify.images if image.startswith("fixtures/shapes/images/val/")]
    assert len(known) >= 2
    assert all((PROFILES.parent / "models" / image).is_file() for image in profile.verify.images if "/" in image)


def test_the_default_profile_is_the_trained_fixture_gated_on_map() -> None:
    """Issue 13: the default build is a model that finds objects, and every build of it is scored on mAP."""
    profile = load_profile(DEFAULT_PROFILE, PROFILES)
    assert DEFAULT_PROFILE == "cpu-fp32-shapes"
    assert profile.backend is Backend.ONNXRUNTIME
    assert profile.precision is Precision.FP32
    assert profile.batch == BatchSpec(1, 1, 1) and not profile.dynamic
    assert profile.target is None and profile.workspace is None and profile.timing_cache is None
    assert profile.int8 is None
    assert profile.model.checkpoint == "fixtures/shapes-yolo11n.pt" and profile.model.sha256
    assert profile.accuracy is not None and profile.accuracy.data == "fixtures/shapes/data.yaml"
    assert profile.accuracy.max_map_drop == 0.01 and profile.accuracy.min_map50_95 is not None
    assert (PROFILES.parent / "models" / profile.accuracy.data).is_file()  # shipped, so a fresh clone builds it


@pytest.mark.parametrize("name", [n for n in BUILDABLE if n != "cpu-fp32"])
def test_gpu_profiles_share_the_tensorrt_settings(name: str) -> None:
    profile = load_profile(name, PROFILES)
    gpu, capability = TARGETS[name.split("-")[0]]
    assert profile.backend is Backend.TENSORRT
    assert profile.target == TargetSpec(gpu=gpu, compute_capability=capability)
    assert profile.workspace == 4 * 2**30
    assert profile.timing_cache == "default"
    assert profile.tf32 is False
    assert [Path(p).stem for p in profile.extends_chain[:2]] == ["_shapes-256", "_tensorrt-base"]


def test_dynamic_and_int8_profiles() -> None:
    dynamic = load_profile("a100-fp16-dynamic", PROFILES)
    assert dynamic.batch == BatchSpec(1, 8, 16) and dynamic.dynamic
    int8 = load_profile("a10-int8", PROFILES)
    assert int8.precision is Precision.INT8
    assert int8.int8 is not None and (int8.int8.data, int8.int8.samples) == ("fixtures/shapes/images/train", 64)
    assert (PROFILES.parent / "models" / int8.int8.data).is_dir()  # shipped: calibrates in a fresh clone
    assert int8.verify.tolerance_for("output0") == load_profile("cpu-int8", PROFILES).verify.tolerance_for("output0")


@pytest.mark.parametrize("path", shipped_files("profiles", "*.yaml"), ids=lambda p: p.name)
def test_every_shipped_file_points_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=profile.schema.json"


@pytest.mark.parametrize("name", ["_yolo11n-640", "_shapes-256", "_tensorrt-base", "_a10"])
def test_abstract_bases_are_listed_and_refused(name: str) -> None:
    listing = {item.name: item for item in list_profiles(PROFILES)}[name]
    assert listing.abstract and listing.error is None
    with pytest.raises(ProfileError) as caught:
        load_profile(name, PROFILES)
    assert "is abstract" in error_text(caught.value)


def test_abstract_hint_names_the_profiles_that_extend_it() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("_a10", PROFILES)
    assert caught.value.hint is not None
    for child in ("a10-fp16", "a10-fp32", "a10-int8"):
        assert child in caught.value.hint


@pytest.mark.parametrize("name", BUILDABLE)
def test_resolved_document_round_trips(name: str, tmp_path: Path) -> None:
    profile = load_profile(name, PROFILES)
    document = document_from_profile(profile)
    assert "extends" not in document
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    again = load_profile(name, tmp_path)
    assert again.to_dict() | {"source": "", "extends_chain": []} == profile.to_dict() | {
        "source": "",
        "extends_chain": [],
    }
    assert again.sha256() == profile.sha256()


def test_sha256_is_stable_and_tracks_what_matters(tmp_path: Path) -> None:
    first = load_profile("a10-fp16", PROFILES)
    assert first.sha256() == load_profile("a10-fp16", PROFILES).sha256()
    assert len(first.sha256()) == 64
    assert first.sha256() != load_profile("a10-fp32", PROFILES).sha256()
    # The same settings written out flat (no extends) hash the same; a description does not count.
    document = document_from_profile(first)
    document["description"] = "another description"
    (tmp_path / "a10-fp16.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_profile("a10-fp16", tmp_path).sha256() == first.sha256()
    document["opset"] = 16
    (tmp_path / "a10-fp16.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_profile("a10-fp16", tmp_path).sha256() != first.sha256()
