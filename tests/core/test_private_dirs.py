"""builder/private_dirs.py: variables pointed into one private folder, restored and removed afterwards."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from builder.errors import HostEnvironmentError
from builder.private_dirs import FOLDERS, private_library_dirs


def test_every_variable_points_into_the_private_folder_and_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    with private_library_dirs() as root:
        assert root.parent == tmp_path
        for name, sub in FOLDERS.items():
            assert os.environ[name] == str(root / sub) and (root / sub).is_dir()
        assert tempfile.gettempdir() == str(root / "tmp")
        (Path(os.environ["YOLO_CONFIG_DIR"]) / "settings.json").write_text("{}")
    assert os.environ["HOME"] == "/nonexistent" and "YOLO_CONFIG_DIR" not in os.environ
    assert list(tmp_path.iterdir()) == []
    assert tempfile.tempdir is None


def test_no_writable_temporary_folder_is_a_host_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(HostEnvironmentError, match="cannot create a private temporary folder"):
        with private_library_dirs():
            pass
