"""Backend lookup by name (from the catalogue); each backend module is imported only when asked for."""

from __future__ import annotations

import importlib
from typing import cast

from builder.backends.base import BackendModule
from builder.backends.catalog import backend_names, find_backend
from builder.errors import HostEnvironmentError, UsageError


def get_backend(name: str) -> BackendModule:
    """The backend module for ``name`` (a ``Backend`` value).

    Raises:
        UsageError: no backend has that name.
        HostEnvironmentError: the backend's module cannot be imported here.
    """
    entry = find_backend(name)
    if entry is None:
        raise UsageError(f"unknown backend {name!r}", hint=f"choose one of: {', '.join(sorted(backend_names()))}")
    try:
        module = importlib.import_module(entry.module)
    except ImportError as err:
        raise HostEnvironmentError(
            f"backend {name!r} cannot be loaded: {err}",
            hint="run the build in the builder image, which has every backend's dependencies",
        ) from err
    return cast(BackendModule, module)
