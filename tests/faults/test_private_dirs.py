"""A bare build writes nothing outside the artifacts folder, the cache folder and its own temporary folder,
with HOME read-only, unset or pointing nowhere (issue 11, class 7).  Real CLI runs, no mocks: as root the
run drops the capabilities that let root write into a read-only folder (the fault suite's `unprivileged`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import quiet_env, run_cli, unprivileged_prefix, write_tiny_profiles

pytestmark = pytest.mark.slow


def _snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    tmp_path.chmod(0o755)
    write_tiny_profiles(tmp_path / "profiles", "tiny")
    for name in ("models", "tmpdir"):
        (tmp_path / name).mkdir()
    env = quiet_env(
        tmp_path,
        {
            "ENGINE_FOUNDRY_PROFILES": str(tmp_path / "profiles"),
            "ENGINE_FOUNDRY_ARTIFACTS": str(tmp_path / "artifacts"),
            "ENGINE_FOUNDRY_MODELS": str(tmp_path / "models"),
            "ENGINE_FOUNDRY_CACHE": str(tmp_path / "cache"),
            "TMPDIR": str(tmp_path / "tmpdir"),
        },
    )
    for name in ("YOLO_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR", "TORCH_HOME"):
        env.pop(name, None)  # the libraries' defaults, under HOME, are what is tested
    return tmp_path, env


@pytest.mark.parametrize("home", ["read-only", "unset", "nonexistent"])
def test_a_bare_build_writes_only_artifacts_cache_and_its_temporary_folder(tmp_path: Path, home: str) -> None:
    root, env = _workspace(tmp_path)
    home_dir = root / "home"
    if home == "read-only":
        home_dir.mkdir()
        home_dir.chmod(0o555)
        env["HOME"] = str(home_dir)
    elif home == "unset":
        env.pop("HOME", None)
    else:
        env["HOME"] = str(home_dir / "nonexistent")  # what nobody's HOME is: created as root before the fix
    before = {name: _snapshot(root / name) for name in ("home", "tmpdir", "profiles", "models")}
    top_before = sorted(p.name for p in root.iterdir())
    result = run_cli(["build", "--profile", "tiny"], cwd=root, env=env, prefix=unprivileged_prefix(), timeout=600)
    home_dir.chmod(0o755) if home_dir.exists() else None
    assert result.returncode == 0, result.describe()
    after = {name: _snapshot(root / name) for name in ("home", "tmpdir", "profiles", "models")}
    assert after == before, f"written outside artifacts/ and cache/: {after} (before: {before})"
    assert {p.name for p in root.iterdir()} <= {*top_before, "artifacts", "cache"}
