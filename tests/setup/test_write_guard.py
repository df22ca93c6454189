"""The guard of tests/conftest.py sees every kind of write into the user's folders; shipped files are git's list."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import USER_FOLDERS, folder_snapshot, snapshot_changes
from tests.support import shipped_files


def _published_build(root: Path) -> None:
    build = root / "artifacts" / "cpu-fp32" / "builds" / "b1"
    build.mkdir(parents=True)
    (build / "model.onnx").write_bytes(b"onnx")
    os.symlink("builds/b1", root / "artifacts" / "cpu-fp32" / "latest")


def test_the_guarded_folders_are_the_users_ones() -> None:
    assert set(USER_FOLDERS) == {"artifacts", "cache", "bundles", "reports", "models"}


def test_a_new_folder_a_new_file_and_a_new_link_are_seen(tmp_path: Path) -> None:
    before = folder_snapshot(tmp_path)
    _published_build(tmp_path)
    changes = snapshot_changes(before, folder_snapshot(tmp_path))
    assert "added   artifacts/cpu-fp32/builds/b1/model.onnx" in changes
    assert "added   artifacts/cpu-fp32/latest" in changes


def test_a_rewritten_file_a_switched_latest_and_a_removal_are_seen(tmp_path: Path) -> None:
    _published_build(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "best.pt").write_bytes(b"weights")
    before = folder_snapshot(tmp_path)
    (tmp_path / "artifacts" / "cpu-fp32" / "builds" / "b1" / "model.onnx").write_bytes(b"other bytes")
    (tmp_path / "artifacts" / "cpu-fp32" / "builds" / "b2").mkdir()
    os.unlink(tmp_path / "artifacts" / "cpu-fp32" / "latest")
    os.symlink("builds/b2", tmp_path / "artifacts" / "cpu-fp32" / "latest")
    (tmp_path / "models" / "best.pt").unlink()
    changes = snapshot_changes(before, folder_snapshot(tmp_path))
    assert "changed artifacts/cpu-fp32/builds/b1/model.onnx" in changes
    assert "changed artifacts/cpu-fp32/latest" in changes
    assert "removed models/best.pt" in changes


def test_reading_changes_nothing(tmp_path: Path) -> None:
    _published_build(tmp_path)
    before = folder_snapshot(tmp_path)
    (tmp_path / "artifacts" / "cpu-fp32" / "latest" / "model.onnx").read_bytes()
    assert snapshot_changes(before, folder_snapshot(tmp_path)) == []


def test_shipped_files_are_the_tracked_ones_not_a_users_additions(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cpu-fp32.yaml").write_text("name: cpu-fp32\n")
    subprocess.run([*git, "add", "profiles"], cwd=tmp_path, check=True)
    (tmp_path / "profiles" / "my-l4.yaml").write_text("name: my-l4\n")  # the README invites this
    assert shipped_files("profiles", "*.yaml", root=tmp_path) == [tmp_path / "profiles" / "cpu-fp32.yaml"]
    assert [p.name for p in sorted((tmp_path / "profiles").glob("*.yaml"))] == ["cpu-fp32.yaml", "my-l4.yaml"]


def test_outside_a_git_checkout_every_file_is_shipped(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "a.yaml").write_text("name: a\n")
    assert shipped_files("profiles", "*.yaml", root=tmp_path) == [tmp_path / "profiles" / "a.yaml"]
