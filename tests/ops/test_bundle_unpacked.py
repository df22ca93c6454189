"""Issue 17 §3: ``verify`` gives the same answer for ``bundle.tar.gz`` and for what ``tar -xzf`` makes of it (the
top folder, or its ``build/`` folder: what ops deploy), and its "N build files not bundled" count is true."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.cli import main
from builder.ops.bundle import make_bundle
from builder.verify import compat
from builder.verify.artifact import verify_path
from builder.verify.checks import VerifyReport
from tests.ops.fakes import synthetic_manifest, write_build

pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="needs tar, as ops use it")


def _tar_xzf(bundle: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(bundle), "-C", str(dest)], check=True)
    (top,) = dest.iterdir()
    return top


def _answer(report: VerifyReport, prefix: str) -> list[tuple[str, str, str]]:
    """The checks with each report's own prefix (``archive:top/`` or ``<unpacked>/top/``) taken out of the messages."""
    return [(c.name, c.status, c.message.replace(prefix, "<bundle>/")) for c in report.checks if c.name != "bundle"]


def test_the_archive_and_its_unpacked_folders_get_the_same_answer(tiny_cpu_build: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tiny_cpu_build, tmp_path / "real.tar.gz").path
    top = _tar_xzf(bundle, tmp_path / "unpacked")
    reports = {where: verify_path(where) for where in (bundle, top, top / "build")}
    assert {r.verdict for r in reports.values()} == {"GO"}, {w: r.checks for w, r in reports.items()}
    assert _answer(reports[bundle], f"{bundle}:{top.name}/") == _answer(reports[top], f"{top}/")
    assert [c.name for c in reports[top / "build"].checks] == [c.name for c in reports[bundle].checks]
    assert reports[top / "build"].folder == top / "build"

    # the count is true: every file the build published that the bundle leaves out, named
    published = {p.name for p in tiny_cpu_build.iterdir() if p.is_file()} - {"SHA256SUMS", "manifest.json"}
    held = {p.name for p in (top / "build").iterdir()}
    left_out = sorted(published - held)
    assert "model.onnx" in left_out
    checksums = next(c.message for c in reports[bundle].checks if c.name == "checksums")
    assert f"({len(left_out)} build files not bundled: {', '.join(left_out)})" in checksums


def test_the_cli_says_go_for_the_unpacked_build_folder(
    tiny_cpu_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = _tar_xzf(make_bundle(tiny_cpu_build, tmp_path / "real.tar.gz").path, tmp_path / "unpacked")
    assert main(["verify", str(top / "build")]) == 0
    out = capsys.readouterr().out
    assert f"GO: {top / 'build'}" in out and "listed in the manifest but missing" not in out


def test_damage_in_the_unpacked_folder_is_a_no_go_as_in_the_archive(tmp_path: Path, monkeypatch) -> None:
    build = write_build(tmp_path / "artifacts", synthetic_manifest("a10-fp16", n=1, backend="tensorrt"))
    bundle = make_bundle(build, tmp_path / "x.tar.gz").path
    a10 = {"name": "NVIDIA A10", "compute_capability": "8.6", "driver_version": "535.104.05"}
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([a10], tensorrt="8.6.1"))
    top = _tar_xzf(bundle, tmp_path / "unpacked")
    assert verify_path(bundle, run_inference=False).ok and verify_path(top / "build", run_inference=False).ok
    with (top / "build" / "model.plan").open("ab") as handle:
        handle.write(b"\x00")
    report = verify_path(top / "build", run_inference=False)
    assert report.verdict == "NO-GO"
    assert any("model.plan" in c.message and c.status == "fail" for c in report.checks)
    (top / "build" / "model.plan").unlink()
    (top / "build" / "model.plan").symlink_to(top / "triton" / "a10-fp16" / "1" / "model.plan")
    linked = verify_path(top, run_inference=False)
    assert linked.verdict == "NO-GO" and "a link; a bundle holds plain files only" in linked.checks[0].message


def test_a_published_build_folder_is_still_verified_as_one(tiny_cpu_build: Path) -> None:
    report = verify_path(tiny_cpu_build, run_inference=False)
    assert [c.name for c in report.checks][:3] == ["manifest", "checksums", "manifest-artifacts"]


@pytest.mark.slow
def test_an_ops_host_set_up_with_setup_env_verify_says_go(tiny_cpu_build: Path, tmp_path: Path) -> None:
    """Issue 22 §3, as an ops host does it: a fresh venv from `scripts/setup-env verify` (real pip), the bundle
    unpacked with tar, `engine-foundry verify <unpacked>/build`: GO, with the one inference run."""
    import os
    import sys

    from tests.support import REPO

    repo = tmp_path / "repo"  # a copy: the editable install writes its metadata beside the package
    for name in ("scripts", "requirements", "builder"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("wheelhouse", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, repo / name)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "ENGINE_FOUNDRY_PYTHON": sys.executable}
    setup = subprocess.run(
        ["bash", str(repo / "scripts" / "setup-env"), "verify"], capture_output=True, text=True, env=env, timeout=900
    )
    assert setup.returncode == 0 and "is ready (verify)" in setup.stderr, setup.stderr[-2000:]
    top = _tar_xzf(make_bundle(tiny_cpu_build, tmp_path / "real.tar.gz").path, tmp_path / "unpacked")
    result = subprocess.run(
        [str(repo / ".venv" / "bin" / "engine-foundry"), "verify", str(top / "build")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PASS load: loaded with onnxruntime" in result.stdout and f"GO: {top / 'build'}" in result.stdout
