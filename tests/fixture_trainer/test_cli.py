"""`make fixture-model` (python3 -m fixture_trainer): what "matches the pin" means, and its refusals."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixture_trainer import pin
from tests.fixture_trainer.test_accuracy import _torchvision_import_error
from tests.support import REPO


def _retrained(record: dict[str, Any], map50_95: float, sha256: str = "0" * 64) -> dict[str, Any]:
    new = copy.deepcopy(record)
    new["sha256"] = sha256
    new["metrics"]["evaluate_cpu"]["map50_95"] = map50_95
    return new


def test_a_retrain_within_tolerance_matches_though_its_sha256_differs(record: dict[str, Any]) -> None:
    recorded = record["metrics"]["evaluate_cpu"]["map50_95"]
    new = _retrained(record, recorded - pin.MAP_TOLERANCE + 0.001)
    check = pin.compare(record, record["dataset"]["digest"], new)
    assert check.matches and not check.sha256_same
    lines = pin.report_lines(check, record, record["dataset"]["digest"], new)
    assert lines[-1] == "RESULT    MATCH"
    assert any(line.startswith("sha256    DIFFERENT") for line in lines)


@pytest.mark.parametrize("change", ["map_too_far", "below_floor", "dataset"])
def test_mismatches(record: dict[str, Any], change: str) -> None:
    recorded = record["metrics"]["evaluate_cpu"]["map50_95"]
    digest = record["dataset"]["digest"]
    if change == "map_too_far":
        new = _retrained(record, recorded + pin.MAP_TOLERANCE + 0.001)
    elif change == "below_floor":
        floor_record = _retrained(record, pin.MIN_MAP50_95 - 0.01)  # a pin that was itself below the floor
        record, new = floor_record, _retrained(floor_record, pin.MIN_MAP50_95 - 0.01)
    else:
        new, digest = _retrained(record, recorded), "f" * 64
    check = pin.compare(record, digest, new)
    assert not check.matches
    assert pin.report_lines(check, record, digest, new)[-1] == "RESULT    MISMATCH"


@pytest.mark.slow  # the fixture-model CLI in a fresh process (torch)
def test_data_command_writes_a_dataset_ultralytics_layout(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-data", "--out", str(tmp_path), "--split", "val"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "images" / "val").glob("*.png"))) == 100
    assert "content digest" in result.stdout


@pytest.mark.slow  # the fixture-model CLI in a fresh process (torch)
def test_retraining_without_a_working_torchvision_is_refused_with_the_fix(tmp_path: Path) -> None:
    if _torchvision_import_error() is None:
        pytest.skip("torchvision imports here, so training would start (minutes)")
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-model", "--work", str(tmp_path)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr  # ExitCode.ENVIRONMENT
    assert result.stderr.startswith("ERROR training needs torchvision")
    assert "TIP " in result.stderr and "DATA_ONLY=1" in result.stderr
    assert not (tmp_path / "shapes").exists()  # refused before generating anything


@pytest.mark.slow
def test_make_fixture_model_data_only_regenerates_the_recorded_dataset(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-model", "--data-only", "--work", str(tmp_path)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "dataset   MATCH" in result.stdout and result.stdout.rstrip().endswith("RESULT    MATCH")


@pytest.mark.parametrize("task", ["segment", "pose", "obb", "classify"])
def test_each_task_record_is_compared_on_its_own_metric(task: str) -> None:
    """The pin of a task fixture: its record's metric key (classify: top-1), the same tolerance and floor."""
    record = pin.load_record(REPO / "models" / pin.record_path(task))
    key = pin.TASK_FIXTURES[task][1]
    recorded = record["metrics"]["evaluate_cpu"][key]
    assert recorded >= pin.MIN_MAP50_95 and (REPO / "models" / pin.checkpoint_path(task)).is_file()
    near, far = json.loads(json.dumps(record)), json.loads(json.dumps(record))
    near["metrics"]["evaluate_cpu"][key] = recorded - pin.MAP_TOLERANCE + 0.001
    far["metrics"]["evaluate_cpu"][key] = recorded - pin.MAP_TOLERANCE - 0.001
    assert pin.compare(record, record["dataset"]["digest"], near, key).matches
    assert not pin.compare(record, record["dataset"]["digest"], far, key).matches


def test_a_task_retrain_without_a_working_torchvision_is_refused_with_the_fix(tmp_path: Path) -> None:
    if _torchvision_import_error() is None:
        pytest.skip("torchvision imports here, so training would start (minutes)")
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-model", "--task", "pose", "--work", str(tmp_path)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("ERROR training needs torchvision")
    assert not (tmp_path / "shapes-pose").exists()


@pytest.mark.slow
def test_make_fixture_model_task_data_only_regenerates_the_device_made_dataset(tmp_path: Path) -> None:
    """The obb record's digest was made on the device machine (another numpy); this machine makes the same."""
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-model", "--task", "obb", "--data-only", "--work", str(tmp_path)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert "dataset   MATCH" in result.stdout and result.stdout.rstrip().endswith("RESULT    MATCH")
