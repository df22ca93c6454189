"""The backend catalogue: every fact about a backend that code outside the backend needs, in one place.

Dependency-free (no backend module, no profile code is imported), so the host side, the profile
loader, ``doctor``, the build key and ops all read it. Adding a backend is its module, one
:class:`BackendEntry` here, its requirements and a profile; see docs/dev/architecture.md, "Extending".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

#: packages every build needs, whatever the backend: export (torch, ultralytics, onnx), the export check and the
#: FP32 reference (onnxruntime), the comparison (polygraphy)
PIPELINE_PACKAGES = ("torch", "ultralytics", "onnx", "onnxruntime", "polygraphy")


@dataclass(frozen=True)
class TritonPlatform:
    """How Triton serves a backend's artifact: ``platform`` of config.pbtxt, the version-1 file, the instance kind."""

    platform: str
    model_file: str
    instance_kind: str  # "KIND_GPU" | "KIND_CPU"


@dataclass(frozen=True)
class BackendEntry:
    """One backend.

    ``only_fields`` are profile keys (dotted paths, e.g. ``outputs.ultralytics_engine``) that only the backends
    naming them accept: with any other backend they must keep their default. ``host_check`` names the function
    (``"module:function"``, imported only when called) that turns a manifest's :class:`HostRequirements` and
    this host's facts into go / no-go verdicts (see :mod:`builder.verify.compat`).
    """

    name: str
    title: str  # what the artifact is, for OPS.md
    module: str  # the backend module, imported lazily by builder.backends.registry
    flavour: str  # its default image: "cpu" | "trt" (requirements/<flavour>.in, FLAVOUR of the Dockerfile)
    packages: tuple[str, ...]  # Python packages its builds need beyond PIPELINE_PACKAGES (doctor, build key)
    precisions: tuple[str, ...]
    host_check: str
    needs_gpu: bool = False  # builds and runs on an NVIDIA GPU (GPU requests, doctor, host checks, build key, routing)
    #: same inputs and environment give byte-identical artifacts (False: e.g. TensorRT's timed tactic choice)
    reproducible: bool = True
    only_fields: tuple[str, ...] = ()
    #: ``"module:function"`` (imported only when called) taking ``(data, report)`` of
    #: :mod:`builder.profile.validate`: the backend's own rules across profile keys; "": none
    profile_check: str = ""
    triton: TritonPlatform | None = None  # None: no Triton repository for this backend
    version_field: str = ""  # the profile key choosing among version_flavours; "": one image
    version_flavours: tuple[tuple[str, str], ...] = ()  # (profile value, flavour), the default first

    def all_flavours(self) -> tuple[str, ...]:
        """Every image this backend builds in, its default first."""
        return tuple(dict.fromkeys((self.flavour, *(flavour for _, flavour in self.version_flavours))))

    def versions(self) -> tuple[str, ...]:
        """The values ``version_field`` accepts (empty: the backend has one image)."""
        return tuple(value for value, _ in self.version_flavours)

    def flavour_for(self, version: object = None) -> str:
        """The image flavour a profile with ``version_field`` = ``version`` builds in (None: the default).

        Raises:
            KeyError: a version this backend has no image for (the profile loader refuses it first).
        """
        if version is None or not self.version_flavours:
            return self.flavour
        for value, flavour in self.version_flavours:
            if value == str(version):
                return flavour
        raise KeyError(
            f"backend {self.name!r} has no image for {self.version_field} {version!r} "
            f"(known: {', '.join(self.versions())})"
        )


_ENTRIES: dict[str, BackendEntry] = {}


def register_backend(entry: BackendEntry) -> BackendEntry:
    """Add ``entry`` to the catalogue (the documented extension point; the entries below use it too).

    Raises:
        ValueError: a backend of that name is already registered.
    """
    if entry.name in _ENTRIES:
        raise ValueError(f"backend {entry.name!r} is already in the catalogue")
    _ENTRIES[entry.name] = entry
    return entry


def unregister_backend(name: str) -> None:
    """Remove a backend registered with :func:`register_backend` (tests)."""
    del _ENTRIES[name]


def backends() -> tuple[BackendEntry, ...]:
    """Every backend, in registration order."""
    return tuple(_ENTRIES.values())


def backend_names() -> tuple[str, ...]:
    return tuple(_ENTRIES)


def find_backend(name: object) -> BackendEntry | None:
    """The entry for ``name`` (a name, or a ``Backend`` member), or None."""
    return _ENTRIES.get(str(getattr(name, "value", name)))


def get_backend_entry(name: object) -> BackendEntry:
    """The entry for ``name``.

    Raises:
        KeyError: no such backend (callers that take user input check with :func:`find_backend` first).
    """
    entry = find_backend(name)
    if entry is None:
        raise KeyError(f"unknown backend {name!r} (known: {', '.join(_ENTRIES)})")
    return entry


def needs_gpu(name: object) -> bool:
    """Whether a build with backend ``name`` runs on (and is bound to the model of) an NVIDIA GPU: the build key
    records the GPU, the farm routes it to a GPU node. An unknown name needs none.
    """
    entry = find_backend(name)
    return entry is not None and entry.needs_gpu


def build_packages(entry: BackendEntry) -> tuple[str, ...]:
    """Every Python package a build with ``entry`` needs: the pipeline's, then the backend's own."""
    return tuple(dict.fromkeys(PIPELINE_PACKAGES + entry.packages))


def owners_of_field(path: str) -> tuple[str, ...]:
    """Backends that list the profile key ``path`` (dotted) as theirs only; empty: every backend accepts it."""
    return tuple(entry.name for entry in _ENTRIES.values() if path in entry.only_fields)


def backend_for_flavour(flavour: str) -> BackendEntry:
    """The first backend built in image ``flavour`` (what ``make shell FLAVOUR=…`` sets the container up for).

    Raises:
        KeyError: no backend builds in that flavour.
    """
    for entry in _ENTRIES.values():
        if flavour in entry.all_flavours():
            return entry
    raise KeyError(f"no backend builds in the {flavour!r} image")


def flavours() -> tuple[str, ...]:
    """The image flavours backends build in, sorted."""
    return tuple(sorted({flavour for entry in _ENTRIES.values() for flavour in entry.all_flavours()}))


def resolve(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names (imported now)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


TENSORRT = register_backend(
    BackendEntry(
        name="tensorrt",
        title="TensorRT plan (raw, no ultralytics header)",
        module="builder.backends.tensorrt",
        flavour="trt",
        packages=("tensorrt",),
        precisions=("fp32", "fp16", "int8"),
        host_check="builder.verify.compat:check_tensorrt_host",
        profile_check="builder.backends.tensorrt.profile_rules:check",
        needs_gpu=True,
        reproducible=False,  # the builder times tactics: plan bytes and chosen layers may differ run to run
        only_fields=(
            "workspace",
            "timing_cache",
            "frozen",
            "builder_optimization_level",
            "hardware_compatibility",
            "version_compatible",
            "tf32",
            "target",
            "outputs.ultralytics_engine",
            "tensorrt",
            "int8.head",
            "int8.quantization",
            "int8.search",
            "int8.type",
        ),
        triton=TritonPlatform("tensorrt_plan", "model.plan", "KIND_GPU"),
        # `tensorrt: "8.6"` builds in the trt image (NGC 23.08), `tensorrt: "10"` in trt10 (NGC 25.01, TensorRT 10.8)
        version_field="tensorrt",
        version_flavours=(("8.6", "trt"), ("10", "trt10")),
    )
)

ONNXRUNTIME = register_backend(
    BackendEntry(
        name="onnxruntime",
        title="ONNX model optimized for ONNX Runtime (CPU)",
        module="builder.backends.onnxruntime",
        flavour="cpu",
        packages=("onnxruntime",),
        precisions=("fp32", "int8"),
        host_check="builder.verify.compat:check_onnxruntime_host",
        only_fields=("int8.head", "int8.search"),
        profile_check="builder.backends.ort_profile_rules:check",
        triton=TritonPlatform("onnxruntime_onnx", "model.onnx", "KIND_CPU"),
    )
)
