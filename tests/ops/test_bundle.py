"""Bundles: determinism, round trip through `verify`, and every kind of damage."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from builder.common.hashing import format_sums, sha256_file
from builder.errors import ArtifactError
from builder.ops.bundle import find_build, make_bundle, write_tar_gz
from builder.verify import compat
from builder.verify.artifact import verify_path
from builder.verify.bundle import safe_extract, verify_bundle
from tests.ops.fakes import build_id, synthetic_manifest, write_build
from tests.support import unpack_bundle


@pytest.fixture
def cpu_build(tmp_path: Path) -> Path:
    return write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=1))


@pytest.fixture
def trt_build(tmp_path: Path) -> Path:
    return write_build(tmp_path / "artifacts", synthetic_manifest("a10-fp16", n=1, backend="tensorrt"))


def _unpack(bundle: Path, dest: Path) -> Path:
    return unpack_bundle(bundle, dest)


def _repack(top: Path, output: Path, *, resum: bool = False) -> Path:
    """Pack an (edited) unpacked bundle again; ``resum`` rewrites both SHA256SUMS files to match."""
    if resum:
        build = top / "build"
        build_files = [p for p in sorted(build.iterdir()) if p.name != "SHA256SUMS"]
        (build / "SHA256SUMS").write_text(format_sums((p.name, sha256_file(p)) for p in build_files))
        files = [p for p in sorted(top.rglob("*")) if p.is_file() and p != top / "SHA256SUMS"]
        (top / "SHA256SUMS").write_text(format_sums((p.relative_to(top).as_posix(), sha256_file(p)) for p in files))
    entries = {p.relative_to(top).as_posix(): p for p in sorted(top.rglob("*")) if p.is_file()}
    write_tar_gz(output, top.name, entries, 0)
    return output


def _first_failure(report) -> str:
    return next(c.message for c in report.checks if c.status == "fail")


def test_two_bundles_of_one_build_are_byte_identical_and_normalised(cpu_build, tmp_path):
    first = make_bundle(cpu_build, tmp_path / "a" / "x.tar.gz")
    second = make_bundle(cpu_build, tmp_path / "b" / "x.tar.gz")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == sha256_file(first.path)
    with tarfile.open(first.path, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == f"tiny-{build_id(1)}"
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert len({m.mtime for m in members}) == 1
    assert {m.mode for m in members if m.isfile()} == {0o644}
    assert not [p for p in (tmp_path / "a").iterdir() if p.name != "x.tar.gz"]  # no temp file left behind


def test_bundle_holds_model_metadata_manifest_sums_ops_doc_and_triton(cpu_build, tmp_path):
    result = make_bundle(cpu_build, tmp_path / "x.tar.gz")
    assert set(result.files) == {
        "OPS.md", "SHA256SUMS", "build/SHA256SUMS", "build/manifest.json", "build/metadata.json",
        "build/model.ort.onnx", "triton/tiny/config.pbtxt", "triton/tiny/1/model.onnx",
        "provenance.intoto.json", "sbom.cdx.json",
    }  # fmt: skip
    top = _unpack(result.path, tmp_path / "out")
    sums = (top / "SHA256SUMS").read_text()
    assert all(f"  {rel}\n" in sums for rel in result.files if rel != "SHA256SUMS")
    assert (top / "triton/tiny/1/model.onnx").read_bytes() == (cpu_build / "model.ort.onnx").read_bytes()


def test_tensorrt_bundle_has_a_plan_repository(trt_build, tmp_path):
    result = make_bundle(trt_build, tmp_path / "x.tar.gz")
    assert "triton/a10-fp16/1/model.plan" in result.files and "build/model.plan" in result.files


def test_round_trip_verify_passes_without_inference(cpu_build, tmp_path, monkeypatch):
    bundle = make_bundle(cpu_build, tmp_path / "x.tar.gz").path
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([], onnxruntime="1.16.3"))
    report = verify_path(bundle, run_inference=False)
    assert report.ok, report.checks
    assert report.folder == bundle
    assert [c.name for c in report.checks] == [
        "bundle",
        "signature",
        "bundle-checksums",
        "manifest",
        "checksums",
        "provenance",
        "triton",
        "compat-onnxruntime",
    ]
    assert "match the build's records" in report.checks[4].message  # model.onnx stays in the build folder


def test_default_output_and_build_selection(cpu_build, tmp_path, monkeypatch):
    artifacts = cpu_build.parent.parent.parent
    write_build(artifacts, synthetic_manifest("tiny", n=2), latest=False)
    assert find_build(artifacts, "tiny") == cpu_build  # latest
    assert find_build(artifacts, "tiny", build_id(2)[:20]).name == build_id(2)
    with pytest.raises(ArtifactError, match="2 builds matches --build"):
        find_build(artifacts, "tiny", "2025")
    with pytest.raises(ArtifactError, match="has no latest build"):
        find_build(artifacts, "nope")
    monkeypatch.chdir(tmp_path)
    result = make_bundle(cpu_build)
    assert result.path == Path("bundles") / f"tiny-{build_id(1)}.tar.gz" and result.path.is_file()


def test_damaged_build_folder_is_not_bundled(cpu_build, tmp_path):
    (cpu_build / "metadata.json").write_text("{}")
    with pytest.raises(ArtifactError, match=r"metadata.json: changed"):
        make_bundle(cpu_build, tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()


def test_changed_file_is_named(cpu_build, tmp_path):
    top = _unpack(make_bundle(cpu_build, tmp_path / "x.tar.gz").path, tmp_path / "out")
    (top / "build/model.ort.onnx").write_bytes(b"evil-bytes")
    bundle = _repack(top, tmp_path / "tampered.tar.gz")
    report = verify_bundle(bundle, run_inference=False)
    assert not report.ok
    assert _first_failure(report) == f"{bundle}:{top.name}/build/model.ort.onnx: changed (sha256 differs)"


def test_flipped_byte_in_the_archive_fails_naming_it(cpu_build, tmp_path):
    bundle = make_bundle(cpu_build, tmp_path / "x.tar.gz").path
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    report = verify_bundle(bundle, run_inference=False)
    assert [c.name for c in report.checks] == ["bundle"]
    assert _first_failure(report).startswith(f"{bundle}: truncated or corrupt archive (")  # CRC or inflate error


def test_truncated_archive_is_one_clear_line(cpu_build, tmp_path):
    bundle = make_bundle(cpu_build, tmp_path / "x.tar.gz").path
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    report = verify_bundle(bundle, run_inference=False)
    assert [c.name for c in report.checks] == ["bundle"]
    assert _first_failure(report).startswith(f"{bundle}: truncated or corrupt archive")


def test_deleted_file_is_named(cpu_build, tmp_path):
    top = _unpack(make_bundle(cpu_build, tmp_path / "x.tar.gz").path, tmp_path / "out")
    (top / "build/metadata.json").unlink()
    report = verify_bundle(_repack(top, tmp_path / "t.tar.gz"), run_inference=False)
    assert f"{top.name}/build/metadata.json: missing" in _first_failure(report)


def test_newer_manifest_schema_is_refused_even_with_consistent_checksums(cpu_build, tmp_path):
    top = _unpack(make_bundle(cpu_build, tmp_path / "x.tar.gz").path, tmp_path / "out")
    manifest = json.loads((top / "build/manifest.json").read_text())
    manifest["schema_version"] = 2
    (top / "build/manifest.json").write_text(json.dumps(manifest))
    report = verify_bundle(_repack(top, tmp_path / "t.tar.gz", resum=True), run_inference=False)
    assert not report.ok
    assert "manifest schema version 2 is newer than this builder reads (1)" in _first_failure(report)


def _evil_archive(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("top/ok.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize(
    "member, message",
    [
        (_member("top/../../evil.txt"), "points outside the bundle"),
        (_member("/etc/evil.txt"), "has an absolute path"),
        (_member("top/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
        (_member("top/hard", tarfile.LNKTYPE, "top/ok.txt"), "is a link"),
        (_member("top/dev", tarfile.CHRTYPE), "is a device or special file"),
        (_member("other/x.txt"), "is outside the top folder 'top'"),
        (_member("top/ok.txt"), "appears twice"),
    ],
)
def test_unsafe_members_are_refused_before_anything_escapes(tmp_path, member, message):
    archive = _evil_archive(tmp_path / "evil.tar.gz", member, b"x")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArtifactError, match=message) as caught:
        safe_extract(archive, dest)
    assert str(archive) in caught.value.message and member.name in caught.value.message
    assert not (tmp_path / "evil.txt").exists()
    report = verify_bundle(archive, run_inference=False)
    assert [c.status for c in report.checks] == ["fail"]


def test_host_that_does_not_match_is_a_no_go(trt_build, tmp_path, monkeypatch):
    bundle = make_bundle(trt_build, tmp_path / "x.tar.gz").path
    t4 = {"name": "Tesla T4", "compute_capability": "7.5", "driver_version": "535.104.05"}
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([t4], tensorrt="8.6.1"))
    report = verify_bundle(bundle, run_inference=False)
    assert not report.ok
    assert "engine was built for compute capability 8.6 (NVIDIA A10); this host has Tesla T4" in _first_failure(report)


def test_real_build_bundle_loads_and_runs_one_inference(tiny_cpu_build, tmp_path):
    bundle = make_bundle(tiny_cpu_build, tmp_path / "real.tar.gz").path
    report = verify_bundle(bundle)
    assert report.ok, [c for c in report.checks if c.status != "pass"]
    load = next(c for c in report.checks if c.name == "load")
    assert load.status == "pass" and "'output0': [1, 84, 84]" in load.message


def test_sha256sum_c_in_the_bundles_build_folder_checks_exactly_what_it_holds(cpu_build, tmp_path):
    import shutil
    import subprocess

    assert "model.onnx" in (cpu_build / "SHA256SUMS").read_text()  # the build folder has a file the bundle leaves out
    top = _unpack(make_bundle(cpu_build, tmp_path / "x.tar.gz").path, tmp_path / "out")
    listed = sorted(line.split("  ", 1)[1] for line in (top / "build/SHA256SUMS").read_text().splitlines())
    assert listed == sorted(p.name for p in (top / "build").iterdir() if p.name != "SHA256SUMS")
    if shutil.which("sha256sum"):
        for folder in (top / "build", top):
            result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
            assert result.returncode == 0, result.stdout + result.stderr
