"""Fixtures of the fault suite."""

from __future__ import annotations

import pytest


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
