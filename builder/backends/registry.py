"""Backend lookup by name; each backend module is imported only when asked for."""

from __future__ import annotations

import importlib
from typing import cast

from builder.backends.base import BackendModule
from builder.errors import HostEnvironmentError, UsageError

BACKEND_MODULES = {
    "onnxruntime": "builder.backends.onnxruntime",
    "tensorrt": "builder.backends.tensorrt",
}


def get_backend(name: str) -> BackendModule:
    """The backend module for ``name`` (a ``Backend`` value).

    Raises:
        UsageError: no backend has that name.
        HostEnvironmentError: the backend's module cannot be imported here.
    """
    module_name = BACKEND_MODULES.get(name)
    if module_name is None:
        raise UsageError(
            f"unknown backend {name!r}", hint=f"choose one of: {', '.join(sorted(BACKEND_MODULES))}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise HostEnvironmentError(
            f"backend {name!r} cannot be loaded: {err}",
            hint="run the build in the builder image, which has every backend's dependencies",
        ) from err
    return cast(BackendModule, module)
