"""The ops subcommands through `builder.cli.main`: one ERROR line + TIP, the right exit codes."""

from __future__ import annotations

import json

from builder.cli import main
from builder.common.hashing import format_sums, sha256_file
from builder.ops.bundle import write_tar_gz
from builder.verify import compat
from tests.ops.fakes import build_id, synthetic_manifest, write_build
from tests.support import unpack_bundle


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ERROR ")]


def _bundle(tmp_path, capsys) -> str:
    write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=1))
    out = tmp_path / "tiny.tar.gz"
    assert main(["bundle", "--profile", "tiny", "--artifacts", str(tmp_path / "artifacts"), "--output", str(out)]) == 0
    assert f"BUNDLED tiny build {build_id(1)}: {out}" in capsys.readouterr().out
    return str(out)


def test_bundle_then_verify_is_a_go(tmp_path, capsys, monkeypatch):
    bundle = _bundle(tmp_path, capsys)
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([], onnxruntime="1.16.3"))
    assert main(["verify", bundle, "--no-run"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"GO: {bundle}")


def test_verify_of_a_tampered_bundle_prints_one_error_line_and_exits_5(tmp_path, capsys):
    bundle = _bundle(tmp_path, capsys)
    top = unpack_bundle(bundle, tmp_path / "x")
    (top / "OPS.md").write_text("edited")
    write_tar_gz(
        tmp_path / "t.tar.gz", top.name, {p.relative_to(top).as_posix(): p for p in top.rglob("*") if p.is_file()}, 0
    )
    assert main(["verify", str(tmp_path / "t.tar.gz"), "--no-run"]) == 5
    captured = capsys.readouterr()
    assert _errors(captured.err) == [f"ERROR {tmp_path / 't.tar.gz'}:{top.name}/OPS.md: changed (sha256 differs)"]
    assert "TIP do not deploy this artifact" in captured.err and "NO-GO" in captured.out


def test_verify_of_a_truncated_bundle_names_the_archive(tmp_path, capsys):
    bundle = _bundle(tmp_path, capsys)
    with open(bundle, "r+b") as handle:
        handle.truncate(200)
    assert main(["verify", bundle]) == 5
    (line,) = _errors(capsys.readouterr().err)
    assert line.startswith(f"ERROR {bundle}: truncated or corrupt archive")


def test_verify_of_a_newer_schema_manifest_in_a_build_folder(tmp_path, capsys):
    folder = write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=1))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = 3
    (folder / "manifest.json").write_text(json.dumps(manifest))
    entries = [(p.name, sha256_file(p)) for p in folder.iterdir() if p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text(format_sums(entries))
    assert main(["verify", str(folder), "--no-run"]) == 5
    (line,) = _errors(capsys.readouterr().err)
    assert "manifest schema version 3 is newer than this builder reads (1)" in line


def test_bundle_of_a_missing_profile_is_an_artifact_error(tmp_path, capsys):
    assert main(["bundle", "--profile", "nope", "--artifacts", str(tmp_path)]) == 5
    (line,) = _errors(capsys.readouterr().err)
    assert "profile 'nope' has no latest build" in line


def test_prune_command_keeps_the_newest(tmp_path, capsys):
    for n in (1, 2, 3):
        write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=n))
    assert main(["prune", "--artifacts", str(tmp_path / "artifacts"), "--keep", "1", "--dry-run"]) == 0
    assert "tiny: would remove 2, kept 1" in capsys.readouterr().out
    assert main(["prune", "--artifacts", str(tmp_path / "artifacts"), "--keep", "1"]) == 0
    assert len(list((tmp_path / "artifacts/tiny/builds").iterdir())) == 1


def test_nightly_rejects_bad_arguments_before_building(tmp_path, capsys):
    base = ["nightly", "--bare", "--artifacts", str(tmp_path / "a"), "--reports", str(tmp_path / "r")]
    assert main([*base, "--latency-threshold", "0"]) == 2
    assert main([*base, "--keep", "0"]) == 2
    assert len(_errors(capsys.readouterr().err)) == 2
    assert not (tmp_path / "a").exists()


def test_verify_is_unverified_not_go_when_the_deciding_checks_could_not_run(tmp_path, capsys, monkeypatch):
    bundle = _bundle(tmp_path, capsys)
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([], onnxruntime=None))  # no runtime here
    assert main(["verify", bundle, "--no-run"]) == 8
    captured = capsys.readouterr()
    assert "SKIP compat-onnxruntime" in captured.out and f"UNVERIFIED: {bundle}" in captured.out
    assert "\nGO" not in captured.out and _errors(captured.err)[0].startswith(
        f"ERROR {bundle}: intact, but not verified"
    )
