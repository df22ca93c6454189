"""``extends``: deep merge, child wins, ``model`` replaced whole, ``null`` clears, errors point at the right file."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ProfileError
from builder.profile import BatchSpec, load_profile
from tests.profile.helpers import error_text, write_profile

BASE = """
backend: tensorrt
model:
  yaml: yolo11n.yaml
  seed: 7
precision: fp16
workspace: 2GiB
batch: {min: 1, opt: 4, max: 8}
target:
  gpu: A10
  compute_capability: "8.6"
verify:
  random_inputs: 3
  tolerances:
    default: {atol: 0.25, rtol: 0.01}
    output0: {atol: 0.3}
benchmark: {warmup: 2, iterations: 5}
"""


def test_child_overrides_and_inherits_nested_keys(tmp_path: Path) -> None:
    write_profile(tmp_path, "_base", BASE)
    write_profile(
        tmp_path,
        "child",
        """
        extends: _base
        batch: {max: 32}
        target: {gpu: A10G}
        verify:
          tolerances:
            output0: {rtol: 0.5}
        benchmark: {iterations: 9}
    """,
    )
    profile = load_profile("child", tmp_path)
    assert profile.batch == BatchSpec(1, 4, 32)
    assert profile.target is not None and (profile.target.gpu, profile.target.compute_capability) == ("A10G", "8.6")
    assert profile.verify.random_inputs == 3
    assert profile.verify.tolerances["output0"].atol == 0.3 and profile.verify.tolerances["output0"].rtol == 0.5
    assert profile.verify.tolerances["default"].atol == 0.25
    assert (profile.benchmark.warmup, profile.benchmark.iterations) == (2, 9)
    assert profile.workspace == 2 * 2**30
    assert [Path(p).name for p in profile.extends_chain] == ["_base.yaml", "child.yaml"]


def test_scalar_replaces_mapping_and_lists_are_replaced(tmp_path: Path) -> None:
    write_profile(tmp_path, "_base", BASE)
    write_profile(
        tmp_path,
        "child",
        """
        extends: _base
        batch: 2
        verify:
          images: [zidane.jpg]
    """,
    )
    profile = load_profile("child", tmp_path)
    assert profile.batch == BatchSpec(2, 2, 2)
    assert profile.verify.images == ("zidane.jpg",)


def test_model_is_replaced_whole(tmp_path: Path) -> None:
    write_profile(tmp_path, "_base", BASE)
    write_profile(
        tmp_path,
        "child",
        """
        extends: _base
        model:
          checkpoint: weights/best.pt
    """,
    )
    profile = load_profile("child", tmp_path)
    assert profile.model.checkpoint == "weights/best.pt"
    assert profile.model.yaml is None


def test_null_clears_nullable_keys_of_the_base(tmp_path: Path) -> None:
    write_profile(tmp_path, "_base", BASE.replace("precision: fp16", "precision: int8") + "int8: {data: calib}\n")
    write_profile(
        tmp_path,
        "child",
        """
        extends: _base
        precision: fp16
        int8: null
        target: null
        workspace: null
    """,
    )
    profile = load_profile("child", tmp_path)
    assert profile.int8 is None and profile.target is None and profile.workspace is None


def test_three_levels(tmp_path: Path) -> None:
    write_profile(tmp_path, "_a", "backend: tensorrt\nmodel: {yaml: yolo11n.yaml}\nopset: 13\n")
    write_profile(tmp_path, "_b", "extends: _a\nprecision: fp16\nopset: 14\n")
    write_profile(tmp_path, "c", "extends: _b\nimgsz: [320, 640]\n")
    profile = load_profile("c", tmp_path)
    assert profile.opset == 14 and profile.imgsz == (320, 640)
    assert [Path(p).stem for p in profile.extends_chain] == ["_a", "_b", "c"]


def test_problems_in_child_and_base_are_reported_together(tmp_path: Path) -> None:
    write_profile(tmp_path, "_base", BASE.replace("workspace: 2GiB", "workspace: lots"))
    write_profile(tmp_path, "child", "extends: _base\nopset: 99\n")
    with pytest.raises(ProfileError) as caught:
        load_profile("child", tmp_path)
    errors = {(Path(e.file).name, e.key): e.line for e in caught.value.errors}
    assert errors == {("_base.yaml", "workspace"): 7, ("child.yaml", "opset"): 3}


def test_a_fragment_base_is_not_checked_for_missing_keys(tmp_path: Path) -> None:
    write_profile(tmp_path, "_fragment", "batch: {max: 16}\n")
    write_profile(
        tmp_path,
        "child",
        """
        extends: _fragment
        backend: tensorrt
        model: {yaml: yolo11n.yaml}
        precision: fp16
        batch: {min: 1, opt: 4}
    """,
    )
    assert load_profile("child", tmp_path).batch == BatchSpec(1, 4, 16)


def test_cycle_through_three_files(tmp_path: Path) -> None:
    write_profile(tmp_path, "a", "extends: b\n")
    write_profile(tmp_path, "b", "extends: c\n")
    write_profile(tmp_path, "c", "extends: a\n")
    with pytest.raises(ProfileError) as caught:
        load_profile("a", tmp_path)
    assert "extends cycle: a -> b -> c -> a" in error_text(caught.value)


def test_extends_is_looked_up_beside_the_file_not_in_profiles_dir(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "profiles").mkdir()
    write_profile(tmp_path / "profiles", "_base", BASE)
    child = write_profile(tmp_path / "elsewhere", "child", "extends: _base\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(child, tmp_path / "profiles")
    assert "no profile '_base'" in error_text(caught.value)
