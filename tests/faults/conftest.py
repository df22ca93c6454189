"""Fixtures of the fault suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import folder_args, quiet_env, run_cli, write_tiny_profiles


@pytest.fixture(scope="session")
def docker_available() -> bool:
    """Whether a Docker engine answers (through the project's own adapter, so DOCKER_HOST is honoured)."""
    from builder.errors import HostEnvironmentError

    try:
        from builder.host.docker_engine import DockerEngine

        DockerEngine()
    except (HostEnvironmentError, ImportError):
        return False
    return True


@pytest.fixture(scope="session")
def published_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding profiles/ (``tiny``), models/, cache/ and artifacts/ with one real published build of
    ``tiny``, made bare by the CLI.  Shared: copy it (:func:`tests.faults.harness.clone`) before changing anything."""
    root = tmp_path_factory.mktemp("published")
    write_tiny_profiles(root / "profiles", "tiny")
    result = run_cli(["build", "--profile", "tiny", *folder_args(root)], cwd=root, env=quiet_env(root))
    assert result.returncode == 0, result.describe()
    return root
