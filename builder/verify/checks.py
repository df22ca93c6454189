"""What `verify` checks on a build folder, whether published or extracted from a bundle.

The report and its checks, ``SHA256SUMS`` against the files, host compatibility and one real inference.
:mod:`builder.verify.artifact` (build folders) and :mod:`builder.verify.bundle` (bundles) both use it; it
imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from builder.common.hashing import SUMS_NAME, check_folder, parse_sums
from builder.common.safe_io import TEXT_BYTES, FileReadError, read_text
from builder.errors import BuilderError, ExitCode

if TYPE_CHECKING:
    from builder.record.manifest_read import ManifestView

#: checks that decide whether the artifact runs on this host: a skipped one makes the verdict UNVERIFIED, not GO
DECIDING_CHECKS = ("compat-", "load")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass", "fail", "skip"
    message: str


@dataclass
class VerifyReport:
    folder: Path
    checks: list[Check] = field(default_factory=list)
    manifest: ManifestView | None = None

    def add(self, name: str, status: str, message: str) -> None:
        self.checks.append(Check(name, status, message))

    @property
    def ok(self) -> bool:
        """No check failed (integrity and fitness); :attr:`verdict` also needs the deciding checks to have run."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def undecided(self) -> list[Check]:
        """Deciding checks (host compatibility, loading) that were skipped: they could not run here."""
        return [c for c in self.checks if c.status == "skip" and c.name.startswith(DECIDING_CHECKS)]

    @property
    def verdict(self) -> str:
        """``NO-GO`` (a check failed), ``UNVERIFIED`` (intact, but a deciding check could not run) or ``GO``."""
        if not self.ok:
            return "NO-GO"
        return "UNVERIFIED" if self.undecided else "GO"

    def exit_code(self) -> int:
        return {"GO": 0, "UNVERIFIED": int(ExitCode.UNVERIFIED)}.get(self.verdict, int(ExitCode.ARTIFACT))


def verify_setup(backend: str, image: str | None, target: str) -> str:
    """How a host gets ``verify`` with the runtime it checks, for an artifact of ``backend`` (docs/ops.md).

    ``image``: the image the build ran in (a TensorRT build verifies in it); ``target``: what to verify.
    """
    from builder.backends.catalog import needs_gpu

    if needs_gpu(backend):  # a GPU backend's runtime lives in the image the build used
        path = PurePosixPath(target)
        folder, inside = (str(path.parent), path.name) if path.is_absolute() else ("$PWD", target)
        return (
            "on the GPU host, run verify in the TensorRT image the build used (TensorRT and the builder are in it): "
            f'`docker run --rm --gpus=all -v "{folder}:/work:ro" {image or "engine-foundry:trt"} verify /work/{inside}`'
        )
    return (
        "on a CPU host, from an Engine Foundry checkout: `scripts/setup-env verify` (a .venv with ONNX Runtime, "
        f"numpy and Polygraphy, nothing else), then `.venv/bin/engine-foundry verify {target}`"
    )


def add_manifest_check(report: VerifyReport, manifest: ManifestView) -> None:
    """The ``manifest`` check: it read and validated (:func:`builder.record.manifest_read.read_manifest`), and the
    build succeeded."""
    status = "pass" if manifest.succeeded else "fail"
    report.add("manifest", status, f"schema v{manifest.schema_version}, status {manifest.status}")


def run_host_checks(report: VerifyReport, *, run_inference: bool) -> None:
    """Host compatibility (:mod:`builder.verify.compat`), then, if nothing failed so far, one real inference."""
    from builder.verify.compat import check_report

    check_report(report)
    if run_inference and report.ok:
        _check_inference(report)


def check_sums(report: VerifyReport, folder: Path, name: str = "checksums", *, unlisted: tuple[str, ...] = ()) -> None:
    """Compare ``folder`` with its ``SHA256SUMS``; one failed check per bad file, naming it. ``unlisted``: files
    that may be present without a line (a bundle's signature, which covers ``SHA256SUMS`` itself)."""
    sums_path = folder / SUMS_NAME
    try:
        sums = parse_sums(read_text(sums_path, what="checksum list", limit=TEXT_BYTES))
    except FileNotFoundError:
        report.add(name, "fail", f"{sums_path}: missing")
        return
    except FileReadError as err:  # a FIFO, a device, an absurd size: refused unread
        report.add(name, "fail", err.message)
        return
    except (ValueError, OSError) as err:
        report.add(name, "fail", f"{sums_path}: {err}")
        return
    problems = check_folder(folder, sums, ignore=(SUMS_NAME, *unlisted))
    for problem in problems:
        report.add(name, "fail", f"{folder / problem.path}: {problem.problem}")
    if not problems:
        report.add(name, "pass", f"{len(sums)} files match {sums_path}")


def _check_inference(report: VerifyReport) -> None:
    """Load the model artifact with its backend and run one inference on zeros."""
    assert report.manifest is not None
    from builder.profile.resolved import profile_from_resolved

    backend_name = report.manifest.profile.resolved.backend
    model = report.manifest.model
    if model is None:  # the listing check has said so
        return
    try:  # the manifest was checked when read (builder.record.manifest_read); a bad profile is a verdict
        profile = profile_from_resolved(report.manifest.profile.resolved.data)
    except BuilderError as err:
        report.add("load", "fail", err.message)
        return
    try:  # only "this host cannot run it" is a skip
        from builder.backends.registry import get_backend

        backend = get_backend(backend_name)
        backend.check_available(profile)
    except BuilderError as err:
        report.add("load", "skip", f"{backend_name} cannot run here: {err.message}")
        return
    except ImportError as err:
        report.add("load", "skip", f"{backend_name} cannot run here: {err}")
        return
    import numpy as np

    try:
        with backend.make_runner(report.folder / model.path, profile) as runner:
            feed = {
                meta_name: np.zeros(_static_shape(meta.shape, profile), dtype=meta.dtype.numpy())
                for meta_name, meta in runner.get_input_metadata(use_numpy_dtypes=False).items()
            }
            outputs = runner.infer(feed)
    except Exception as err:  # a load failure is a verdict here, not a bug
        report.add("load", "fail", f"{report.folder / model.path}: failed to load or run: {err}")
        return
    shapes = {name: list(value.shape) for name, value in outputs.items()}
    report.add("load", "pass", f"loaded with {backend_name} and ran one inference: outputs {shapes}")


def _static_shape(shape: Any, profile: Any) -> tuple[int, ...]:
    dims = list(shape)
    from builder.yolo.shapes import input_shape

    fallback = input_shape(profile, profile.batch.opt)
    return tuple(d if isinstance(d, int) and d > 0 else fallback[i] for i, d in enumerate(dims))
