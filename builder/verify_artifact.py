"""`verify`: is a published build folder intact, and does it load and run here?

Checks, in order: the manifest (schema, status), ``SHA256SUMS`` against the
files, the manifest's artifact list against the files, host compatibility,
and, where the backend is installed, one real inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from builder.errors import ArtifactError, BuilderError, ExitCode
from builder.hashing import SUMS_NAME, check_folder, parse_sums
from builder.layout import MANIFEST_NAME
from builder.manifest import load_manifest
from builder.safe_io import TEXT_BYTES, FileReadError, read_text


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass", "fail", "skip"
    message: str


@dataclass
class VerifyReport:
    folder: Path
    checks: list[Check] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    def add(self, name: str, status: str, message: str) -> None:
        self.checks.append(Check(name, status, message))

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def exit_code(self) -> int:
        return 0 if self.ok else int(ExitCode.ARTIFACT)


# Extra checks (host compatibility, ...) registered by other modules: f(report) -> None.
EXTRA_CHECKS: list[Callable[[VerifyReport], None]] = []


def resolve_build_folder(path: Path) -> Path:
    """A build folder itself, or ``<artifacts>/<profile>`` (its ``latest``)."""
    if (path / MANIFEST_NAME).is_file() or (path / SUMS_NAME).is_file():
        return path
    if (path / "latest").is_dir():
        return (path / "latest").resolve()
    if not path.exists():
        raise ArtifactError(f"{path}: no such file or folder", hint="pass a build folder (it holds manifest.json and SHA256SUMS)")
    raise ArtifactError(f"{path}: not a build folder (no {MANIFEST_NAME}, no latest)", hint="pass <artifacts>/<profile>/builds/<id> or <artifacts>/<profile>")


def verify_path(path: Path, *, run_inference: bool = True) -> VerifyReport:
    if path.exists() and path.name.endswith((".tar.gz", ".tgz")):  # a FIFO or device is refused by safe_extract
        from builder.ops.bundle_verify import verify_bundle  # a bundle made by `python -m builder bundle`

        return verify_bundle(path, run_inference=run_inference)
    folder = resolve_build_folder(path)
    report = VerifyReport(folder)
    try:
        report.manifest = load_manifest(folder / MANIFEST_NAME)
    except ArtifactError as err:
        report.add("manifest", "fail", err.message)
        return report
    status = report.manifest.get("status")
    report.add("manifest", "pass" if status == "succeeded" else "fail", f"schema v{report.manifest['schema_version']}, status {status}")
    check_sums(report, report.folder)
    _check_listing(report)
    run_host_checks(report, run_inference=run_inference)
    return report


def run_host_checks(report: VerifyReport, *, run_inference: bool) -> None:
    """The registered ``EXTRA_CHECKS``, then, if nothing failed so far, one real inference."""
    for extra in EXTRA_CHECKS:
        extra(report)
    if run_inference and report.ok:
        _check_inference(report)


def check_sums(report: VerifyReport, folder: Path, name: str = "checksums") -> None:
    """Compare ``folder`` with its ``SHA256SUMS``; one failed check per bad file, naming it."""
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
    problems = check_folder(folder, sums)
    for problem in problems:
        report.add(name, "fail", f"{folder / problem.path}: {problem.problem}")
    if not problems:
        report.add(name, "pass", f"{len(sums)} files match {sums_path}")


def _check_listing(report: VerifyReport) -> None:
    assert report.manifest is not None
    listed = {a["path"]: a for a in report.manifest.get("artifacts", [])}
    bad = []
    for rel, art in listed.items():
        path = report.folder / rel
        if not path.is_file():
            bad.append(f"{path}: listed in the manifest but missing")
        elif path.stat().st_size != art["size"]:
            bad.append(f"{path}: size {path.stat().st_size} differs from the manifest's {art['size']}")
    kinds = {a["kind"] for a in listed.values()}
    if "model" not in kinds:
        bad.append(f"{report.folder / MANIFEST_NAME}: lists no artifact of kind 'model'")
    for message in bad:
        report.add("manifest-artifacts", "fail", message)
    if not bad:
        report.add("manifest-artifacts", "pass", f"{len(listed)} artifacts as listed")


def _check_inference(report: VerifyReport) -> None:
    """Load the model artifact with its backend and run one inference on zeros."""
    assert report.manifest is not None
    backend_name = report.manifest["profile"]["resolved"]["backend"]
    model = next(a for a in report.manifest["artifacts"] if a["kind"] == "model")
    try:
        from builder.backends.registry import get_backend
        from builder.profile.resolved import profile_from_resolved

        backend = get_backend(backend_name)
        profile = profile_from_resolved(report.manifest["profile"]["resolved"])
        backend.check_available(profile)
    except BuilderError as err:
        report.add("load", "skip", f"{backend_name} cannot run here: {err.message}")
        return
    except ImportError as err:
        report.add("load", "skip", f"{backend_name} cannot run here: {err}")
        return
    import numpy as np

    try:
        with backend.make_runner(report.folder / model["path"], profile) as runner:
            feed = {
                meta_name: np.zeros(_static_shape(meta.shape, profile), dtype=meta.dtype)
                for meta_name, meta in runner.get_input_metadata().items()
            }
            outputs = runner.infer(feed)
    except Exception as err:  # a load failure is a verdict here, not a bug
        report.add("load", "fail", f"{report.folder / model['path']}: failed to load or run: {err}")
        return
    shapes = {name: list(value.shape) for name, value in outputs.items()}
    report.add("load", "pass", f"loaded with {backend_name} and ran one inference: outputs {shapes}")


def _static_shape(shape: Any, profile: Any) -> tuple[int, ...]:
    dims = list(shape)
    fallback = [profile.batch.opt, 3, *profile.imgsz]
    return tuple(d if isinstance(d, int) and d > 0 else fallback[i] for i, d in enumerate(dims))


def print_report(report: VerifyReport, *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps({"folder": str(report.folder), "ok": report.ok, "checks": [asdict(c) for c in report.checks]}, indent=2))
    else:
        for check in report.checks:
            print(f"{check.status.upper():4} {check.name}: {check.message}")
        print(f"{'GO' if report.ok else 'NO-GO'}: {report.folder}")
    if not report.ok:
        first = next(c for c in report.checks if c.status == "fail")
        raise ArtifactError(first.message, hint="do not deploy this artifact; rebuild it or re-copy it from the source")
