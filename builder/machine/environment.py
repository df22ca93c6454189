"""What the build ran on: Python, packages, image, GPU, driver, CUDA, TensorRT.

Nothing here imports the heavy packages: versions come from package metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.machine.gpu import GpuInfo

from builder.backends.catalog import PIPELINE_PACKAGES, backends

#: packages that change build outputs besides the pipeline's and the backends' own (simplifier, arrays, images)
OUTPUT_PACKAGES = ("onnxslim", "numpy", "opencv-python-headless")
IMAGE_ID_ENV = "ENGINE_FOUNDRY_IMAGE_ID"
DEPS_ENV = "ENGINE_FOUNDRY_DEPS_SHA256"  # sha256 of the image's lock file (and ultralytics override)
BASE_IDENTITY_ENV = "ENGINE_FOUNDRY_BASE_IDENTITY"  # the base's registry digest when pinned, else its image ID


def key_packages() -> tuple[str, ...]:
    """Packages whose versions change build outputs (and so belong in the build key): the pipeline's, every
    catalogue backend's, and :data:`OUTPUT_PACKAGES`."""
    return tuple(dict.fromkeys(PIPELINE_PACKAGES + tuple(p for e in backends() for p in e.packages) + OUTPUT_PACKAGES))


def package_versions(names: tuple[str, ...] | None = None) -> dict[str, str | None]:
    """Installed version of each package (default: :func:`key_packages`), None when absent."""
    versions: dict[str, str | None] = {}
    for name in key_packages() if names is None else names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def image_identity(deps_sha256: str, base: str) -> str:
    """The environment part of the build key for an image: its locked dependency set and its base, never its
    image ID (a rebuild of an unchanged tree gets a new ID but builds the same output)."""
    return f"image:deps={deps_sha256};base={base}"


def environment_identity(image_id: str | None = None) -> str:
    """The environment part of the build key.

    In a container: the image's locked dependency set and base (:data:`DEPS_ENV`, :data:`BASE_IDENTITY_ENV`,
    passed by the launcher from the image's labels); an older image without those labels falls back to its
    image ID. Run bare, a hash of the Python and package versions stands in for it.
    """
    deps, base = os.environ.get(DEPS_ENV), os.environ.get(BASE_IDENTITY_ENV)
    if deps and base:
        return image_identity(deps, base)
    image_id = image_id or os.environ.get(IMAGE_ID_ENV)
    if image_id:
        return f"image:{image_id}"
    facts = {"python": platform.python_version(), "packages": package_versions()}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return f"bare:{digest[:32]}"


def capture_environment(
    image_id: str | None = None, image_ref: str | None = None, gpus: Sequence[GpuInfo] | None = None
) -> dict[str, Any]:
    """The manifest's ``environment`` section; ``gpus`` as the build discovered them (None: discover now)."""
    from builder.machine.gpu import list_gpus  # shared, dependency-free

    gpus = list_gpus() if gpus is None else list(gpus)
    packages = package_versions()
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
        "image": {
            "id": image_id or os.environ.get(IMAGE_ID_ENV),
            "ref": image_ref or os.environ.get("ENGINE_FOUNDRY_IMAGE_REF"),
            "base": os.environ.get("ENGINE_FOUNDRY_BASE_IMAGE"),
            "base_id": os.environ.get("ENGINE_FOUNDRY_BASE_IMAGE_ID"),
            "base_pinned": os.environ.get("ENGINE_FOUNDRY_BASE_PINNED"),
        },
        "in_container": os.path.exists("/.dockerenv"),
        "gpus": [gpu.to_dict() for gpu in gpus],
        "driver": gpus[0].driver_version if gpus else None,
        "cuda": os.environ.get("CUDA_VERSION"),
        "tensorrt": packages.get("tensorrt"),
        "identity": environment_identity(image_id),
    }


def builder_source_digest(root: Path | None = None) -> str:
    """sha256 over the builder package's own files (``*.py`` and ``*.json``), as this process runs them.

    The host computes it from its checkout, the container from the copy installed in its image: equal when the
    image was built from this checkout. Part of the build key: a change to the builder's code changes every key.
    """
    root = root or Path(__file__).resolve().parents[1]  # the builder package (this is builder/machine/)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
