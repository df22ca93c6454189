"""Can this host build a profile? One answer for ``engine``, ``nightly`` and ``doctor``.

Decided from the backend catalogue (:mod:`builder.backends.catalog`), never by backend name: a backend that
``needs_gpu`` needs an NVIDIA GPU here; a build in this process (``--bare``) also needs the backend's Python
packages in this process. Image contents (TensorRT, ONNX Runtime in the image) are not host needs: a build in
Docker gets them from its image, whose base is checked when the image is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builder.backends.catalog import build_packages, get_backend_entry


@dataclass(frozen=True)
class BuildHost:
    """What decides buildability: GPUs found (and how, or why not), and for in-process builds the packages."""

    gpu_count: int
    gpu_note: str  # "nvml" / "nvidia-smi", or why no method found a GPU
    packages: Mapping[str, str | None] | None = None  # None: builds run in the image, packages come from it

    @classmethod
    def probe(cls, *, in_process: bool = False) -> BuildHost:
        """This machine's facts; ``in_process``: builds run here (``--bare``), so packages count too."""
        from builder.machine.gpu import probe_gpus

        probe = probe_gpus()
        note = probe.method if probe.gpus else "; ".join(probe.problems) or "no GPU discovery method answered"
        packages = None
        if in_process:
            from builder.machine.environment import package_versions

            packages = package_versions()
        return cls(len(probe.gpus), note, packages)


def why_not_buildable(backend: object, facts: BuildHost) -> str | None:
    """Why a profile of ``backend`` cannot be built on a host with ``facts``; None when it can."""
    entry = get_backend_entry(backend)
    if entry.needs_gpu and facts.gpu_count == 0:
        return f"the {entry.name} backend needs an NVIDIA GPU and this host has none ({facts.gpu_note})"
    if facts.packages is not None:
        missing = [name for name in build_packages(entry) if facts.packages.get(name) is None]
        if missing:
            return f"python package(s) {', '.join(missing)} missing in this process (build in Docker instead of --bare)"
    return None
