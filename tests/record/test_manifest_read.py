"""The one manifest reader (builder/record/manifest_read.py): every case of tests/data/bad_manifests/ (schema, JSON
our records cannot hold, and ``typed-*``: fields the schema leaves open that the typed views read) is refused by
``read_manifest`` as an ArtifactError (NO-GO, exit 5) naming the field, from a file and from bytes; the ``typed-*``
cases also make ``verify`` of a synthetic, checksummed build NO-GO. The slow tier runs every case through ``verify``
of a real build and bundle (tests/faults/test_bad_manifests.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.cli import main
from builder.errors import ArtifactError, ExitCode
from builder.record.manifest_read import ManifestView, read_manifest
from tests.faults.test_bad_manifests import CASES_DIR, _resum, edited, raw_edited
from tests.ops.fakes import synthetic_manifest, write_build

REAL_BUILD_ONLY = {"stage-failed-in-succeeded-build"}  # edits stages[2]: the synthetic build records two stages
CASES = [path for path in sorted(CASES_DIR.glob("*.yaml")) if path.stem not in REAL_BUILD_ONLY]
TYPED = [path for path in CASES if path.stem.startswith("typed-")]


def _bad_build(path: Path, tmp: Path) -> tuple[Path, dict[str, Any]]:
    """A synthetic published build whose manifest the case edits (checksums agree)."""
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    build = write_build(tmp / "artifacts", synthetic_manifest("tiny"))
    manifest = build / "manifest.json"
    text = json.dumps(edited(json.loads(manifest.read_text()), case), indent=2, sort_keys=True)
    manifest.write_text(raw_edited(text, case))
    _resum(build)
    return build, case


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_read_manifest_refuses_each_bad_manifest_naming_the_field(path: Path, tmp_path: Path) -> None:
    build, case = _bad_build(path, tmp_path)
    manifest = build / "manifest.json"
    for source in (manifest, manifest.read_bytes()):
        with pytest.raises(ArtifactError) as caught:
            read_manifest(source, where=str(manifest))
        assert caught.value.exit_code == ExitCode.ARTIFACT == case["expect"]["exit_code"]
        message = str(caught.value)
        assert all(part in message for part in case["expect"].get("error_contains", [])), message
        assert caught.value.hint


@pytest.mark.parametrize("path", TYPED, ids=lambda p: p.stem)
def test_verify_of_a_manifest_with_a_mistyped_field_is_no_go(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, case = _bad_build(path, tmp_path)
    code = main(["verify", str(build)])
    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if line.startswith("ERROR ")]
    assert code == 5, out.err
    assert len(errors) == 1 and all(part in errors[0] for part in case["expect"]["error_contains"]), out.err
    assert f"NO-GO: {build}" in out.out and "PASS load" not in out.out and "Traceback" not in out.err


@pytest.mark.parametrize("path", TYPED, ids=lambda p: p.stem)
def test_bundle_of_a_manifest_with_a_mistyped_field_is_exit_5_not_a_bug(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the typed reader, OPS.md formatted ``benchmark.latency_ms.p50: "fast"`` with ``:.3f``: exit 70."""
    build, case = _bad_build(path, tmp_path)
    output = tmp_path / "tiny.tar.gz"
    code = main(["bundle", "--profile", "tiny", "--artifacts", str(tmp_path / "artifacts"), "--output", str(output)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ERROR ")]
    assert code == 5 and not output.exists(), err
    assert len(errors) == 1 and all(part in errors[0] for part in case["expect"]["error_contains"]), err


def test_there_are_typed_cases_for_the_open_parts_the_views_read() -> None:
    fields = " ".join(str(yaml.safe_load(p.read_text())["expect"]["error_contains"]) for p in TYPED)
    for part in ("benchmark.", "environment.", "key_inputs.", "verification."):
        assert part in fields, part


def test_a_good_manifest_reads_as_typed_views(tmp_path: Path) -> None:
    build = write_build(tmp_path / "artifacts", synthetic_manifest("tiny", backend="tensorrt", p50=4.0))
    for source in (build / "manifest.json", (build / "manifest.json").read_bytes()):
        view = read_manifest(source)
        assert isinstance(view, ManifestView) and view.succeeded
        assert view.profile.name == "tiny" and view.profile.resolved.backend == "tensorrt"
        assert view.benchmark is not None and view.benchmark.latency_ms is not None
        assert view.benchmark.latency_ms.p50 == 4.0 and view.benchmark.batch == 1
        assert view.model is not None and view.model.path == "model.plan"
        assert [g.name for g in view.environment.gpus] == ["NVIDIA A10"]
        assert view.environment.image.ref == "engine-foundry:trt" and view.environment.tensorrt == "8.6.1"
        assert view.verification is not None and view.verification.outputs["output0"].atol == 0.01
        assert view.verification.agreements == (1.0,)


def test_a_stage_s_own_copy_of_its_record_is_typed_too() -> None:
    """The writer keeps the verify and benchmark records twice (top level and in the stage): both are read."""
    manifest = synthetic_manifest("tiny")
    manifest["verification"], manifest["benchmark"] = manifest["stages"][0]["details"], manifest["stages"][1]["details"]
    manifest["stages"][0]["details"] = {"tensors": {"outputs": {"output0": {"max_abs": "small"}}}}
    with pytest.raises(ArtifactError, match=r"stages\[0\]\.details\.tensors\.outputs\.output0\.max_abs: 'small'"):
        read_manifest(manifest)


def test_a_missing_manifest_is_no_go_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="manifest missing"):
        read_manifest(tmp_path / "manifest.json")
    with pytest.raises(ArtifactError, match="not a readable JSON manifest"):
        read_manifest(b"{", where="bundle/build/manifest.json")


def test_no_module_reads_a_manifest_but_through_the_typed_reader() -> None:
    """The reader is the one place a manifest is parsed and checked; nothing indexes a manifest dict by a field
    name (where a renamed field would read as a silent default instead of a mypy error)."""
    builder = Path(__file__).resolve().parents[2] / "builder"
    own = {builder / "record" / "manifest.py", builder / "record" / "manifest_read.py"}
    pattern = re.compile(r"\b(load_manifest|checked_manifest)\(|\bmanifest\s*(\.get\(|\[\s*['\"])")
    found = [
        f"{path.relative_to(builder.parent)}:{number}: {line.strip()}"
        for path in sorted(builder.rglob("*.py"))
        if path not in own
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
