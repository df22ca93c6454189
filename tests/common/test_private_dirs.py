"""builder/common/private_dirs.py: variables pointed into one private folder, restored and removed afterwards."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from builder.common.private_dirs import FOLDERS, private_library_dirs
from builder.errors import HostEnvironmentError


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


def test_a_folder_left_by_a_sigkilled_command_is_removed_by_the_next(tmp_path, monkeypatch):
    """Issue 22 item 5: the kill tests (tests/faults/test_kill_stages.py, SIGKILL inside each stage) left one
    /tmp/engine-foundry-* folder per kill: a killed process cannot clean up, so the next command does."""
    import signal
    import subprocess
    import sys
    import tempfile

    script = (
        "import sys, time\n"
        "from builder.common.private_dirs import private_library_dirs\n"
        "with private_library_dirs() as root:\n"
        "    print(root, flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    left = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert left.is_dir() and left.parent == tmp_path, "SIGKILL leaves the folder"
    alive = tmp_path / f"engine-foundry-{os.getpid()}-live"  # a running command's folder
    alive.mkdir()
    other = tmp_path / "engine-foundry-tests-ultralytics"  # not a private folder
    other.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with private_library_dirs() as root:
        assert root.name.startswith(f"engine-foundry-{os.getpid()}-")
    assert not left.exists() and alive.is_dir() and other.is_dir()
