"""`python -m builder build` end to end, bare (no Docker): every stage for real at a small imgsz."""

import json
import subprocess
import sys

import pytest

from tests.faults.harness import clone, folder_args, write_tiny_profiles
from tests.support import REPO

DETERMINISTIC = ("model.onnx", "model.ort.onnx", "metadata.json")


def _build(root, *extra):
    cmd = [sys.executable, "-m", "builder", "build", "--profile", "tiny", *folder_args(root), *extra]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_builds(published_tiny, tmp_path_factory):
    """The session's published tiny build (a private copy: a test builds on in it) and one more from scratch."""
    first = clone(published_tiny, tmp_path_factory.mktemp("first") / "workspace")
    second = tmp_path_factory.mktemp("second")
    write_tiny_profiles(second / "profiles", "tiny")
    result = _build(second)
    assert result.returncode == 0, result.stderr[-3000:]
    return [first, second]


def test_every_stage_ran_and_the_folder_checks_out(two_builds):
    latest = two_builds[0] / "artifacts" / "tiny" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert [(s["name"], s["status"]) for s in manifest["stages"]] == [
        ("export", "ok"),
        ("build", "ok"),
        ("verify", "ok"),
        ("evaluate", "skipped"),  # no accuracy block: the mAP gate is skipped
        ("benchmark", "ok"),
        ("publish", "ok"),
    ]
    assert manifest["benchmark"]["latency_ms"]["p50"] > 0
    weights = manifest["inputs"]["weights"]  # random weights: said in the manifest, with the checks they make moot
    assert weights["untrained"] is True and "verify.detections" in weights["not_meaningful"]
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=latest).returncode == 0
    verify = subprocess.run(
        [sys.executable, "-m", "builder", "verify", str(latest)], cwd=REPO, capture_output=True, text=True
    )
    assert verify.returncode == 0 and "PASS load" in verify.stdout, verify.stdout + verify.stderr


def test_two_builds_from_scratch_are_byte_identical_where_promised(two_builds):
    first, second = (root / "artifacts" / "tiny" / "latest" for root in two_builds)
    for name in DETERMINISTIC:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (first, second))
    assert m1["build_key"] == m2["build_key"]
    assert m1["build_id"] != m2["build_id"]  # what differs: id, timestamps, timings (docs/builds.md, "Reproducibility")


def test_a_rebuild_is_up_to_date_and_force_builds_again(two_builds):
    root = two_builds[0]
    again = _build(root)
    assert again.returncode == 0 and "UP-TO-DATE tiny" in again.stdout
    assert len(list((root / "artifacts" / "tiny" / "builds").iterdir())) == 1
    forced = _build(root, "--force")
    assert forced.returncode == 0 and "BUILT tiny" in forced.stdout
    assert len(list((root / "artifacts" / "tiny" / "builds").iterdir())) == 2
