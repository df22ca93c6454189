"""Retention: newest N good builds, never `latest`, newest M failed builds."""

from __future__ import annotations

import pytest

from builder.errors import UsageError
from builder.ops.retention import plan_prune, prune_profile
from builder.record.layout import ArtifactLayout
from tests.ops.fakes import build_id, synthetic_manifest, write_build, write_failed


def _builds(artifacts, count, latest_index=None):
    for n in range(1, count + 1):
        write_build(artifacts, synthetic_manifest(n=n), latest=latest_index is None or n == latest_index)
    return ArtifactLayout(artifacts, "tiny")


def test_keeps_newest_good_builds_and_removes_older(tmp_path):
    layout = _builds(tmp_path, 6)
    result = prune_profile(layout, keep=2, keep_failed=5)
    assert result.removed == [f"builds/{build_id(n)}" for n in (1, 2, 3, 4)]
    assert sorted(p.name for p in layout.builds_dir.iterdir()) == [build_id(5), build_id(6)]
    assert layout.latest_dir().name == build_id(6)
    assert not list(layout.profile_dir.glob(".trash-*"))


def test_never_removes_the_build_latest_points_to(tmp_path):
    layout = _builds(tmp_path, 5, latest_index=2)
    result = prune_profile(layout, keep=1, keep_failed=0)
    assert sorted(p.name for p in layout.builds_dir.iterdir()) == [build_id(2), build_id(5)]
    assert f"builds/{build_id(2)}" in result.kept
    assert layout.latest_dir().name == build_id(2)


def test_failed_builds_keep_only_the_newest_m(tmp_path):
    layout = _builds(tmp_path, 1)
    for n in (10, 11, 12):
        write_failed(tmp_path, "tiny", n)
    result = prune_profile(layout, keep=5, keep_failed=1)
    assert result.removed == [f"failed/{build_id(10)}", f"failed/{build_id(11)}"]
    assert [p.name for p in layout.failed_dir.iterdir()] == [build_id(12)]


def test_dry_run_removes_nothing_and_unreadable_folders_are_left_alone(tmp_path):
    layout = _builds(tmp_path, 3)
    odd = layout.builds_dir / "not-a-build"
    odd.mkdir()
    result = prune_profile(layout, keep=1, keep_failed=0, dry_run=True)
    assert len(result.removed) == 2 and result.ignored == ["builds/not-a-build"]
    assert len(list(layout.builds_dir.iterdir())) == 4


@pytest.mark.parametrize("keep, keep_failed", [(0, 1), (-1, 1), (1, -1)])
def test_counts_that_would_delete_everything_are_refused(tmp_path, keep, keep_failed):
    layout = _builds(tmp_path, 2)
    with pytest.raises(UsageError, match="keep"):
        prune_profile(layout, keep=keep, keep_failed=keep_failed)
    assert len(plan_prune(layout, 1, 0).kept) == 1
    assert len(list(layout.builds_dir.iterdir())) == 2
