import subprocess

import pytest

from builder.common.hashing import check_folder, format_sums, parse_sums, sha256_file


def _folder(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("hello\n")
    entries = [(p.relative_to(tmp_path).as_posix(), sha256_file(p)) for p in tmp_path.rglob("*") if p.is_file()]
    (tmp_path / "SHA256SUMS").write_text(format_sums(entries))
    return tmp_path


def test_sums_file_is_accepted_by_sha256sum(tmp_path):
    folder = _folder(tmp_path)
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a.bin: OK" in result.stdout


def test_known_digest(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    assert sha256_file(tmp_path / "x") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_check_folder_names_changed_missing_and_unlisted(tmp_path):
    folder = _folder(tmp_path)
    sums = parse_sums((folder / "SHA256SUMS").read_text())
    assert check_folder(folder, sums) == []
    (folder / "a.bin").write_bytes(b"abd")
    (folder / "sub" / "b.txt").unlink()
    (folder / "extra").write_text("x")
    problems = {p.path: p.problem for p in check_folder(folder, sums)}
    assert problems["a.bin"].startswith("changed")
    assert problems["sub/b.txt"] == "missing"
    assert problems["extra"].startswith("unlisted")


@pytest.mark.parametrize("line", ["nothex  a", "a" * 64 + " b", "a" * 64 + "  ../etc/passwd", "a" * 64 + "  /abs"])
def test_parse_rejects_bad_lines(line):
    with pytest.raises(ValueError):
        parse_sums(line + "\n")
