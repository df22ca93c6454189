"""Tampering with a published build: flip one byte of any file, or delete it, and ``python -m builder verify`` says
NO-GO (exit 5) and names the file.  Every file of a real build folder is covered (the list is checked against the
build, so a new artifact kind cannot slip through)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import latest_target, quiet_env, run_cli, user_error_problems

PUBLISHED_FILES = ["SHA256SUMS", "manifest.json", "metadata.json", "model.onnx", "model.ort.onnx"]


@pytest.fixture
def build_copy(published_tiny: Path, tmp_path: Path) -> Path:
    source = latest_target(published_tiny / "artifacts" / "tiny")
    assert source is not None
    return Path(shutil.copytree(source, tmp_path / source.name))


def _verify(folder: Path) -> tuple[int, str, str]:
    result = run_cli(["verify", str(folder)], cwd=folder.parent, env=quiet_env(folder.parent))
    return result.returncode, result.stdout, result.stderr


def _flip(path: Path, mask: int) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= mask
    path.write_bytes(bytes(data))


def test_the_list_covers_every_published_file(build_copy: Path) -> None:
    assert sorted(p.name for p in build_copy.rglob("*") if p.is_file()) == PUBLISHED_FILES


def test_an_untouched_copy_is_go(build_copy: Path) -> None:
    code, out, err = _verify(build_copy)
    assert code == 0, out + err
    assert f"GO: {build_copy}" in out and "PASS load" in out


def _cases() -> list[Any]:
    cases: list[Any] = []
    for tamper in ("flip-high-bits", "flip-low-bit", "delete"):
        for name in PUBLISHED_FILES:
            cases.append(pytest.param(tamper, name, id=f"{tamper}-{name}"))
    return cases


@pytest.mark.parametrize(("tamper", "name"), _cases())
def test_tampering_with_any_file_is_caught_and_named(build_copy: Path, tamper: str, name: str) -> None:
    target = build_copy / name
    if tamper == "delete":
        target.unlink()
    else:
        _flip(target, 0xFF if tamper == "flip-high-bits" else 0x01)
    result = run_cli(["verify", str(build_copy)], cwd=build_copy.parent, env=quiet_env(build_copy.parent))
    problems = user_error_problems(result, exit_code=5, contains=[name])
    assert not problems, "\n".join(problems) + "\n" + result.describe()
    assert f"NO-GO: {build_copy}" in result.stdout
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(name in line for line in failing), result.stdout


def test_an_added_file_is_caught_and_named(build_copy: Path) -> None:
    (build_copy / "backdoor.so").write_bytes(b"\x7fELF")
    result = run_cli(["verify", str(build_copy)], cwd=build_copy.parent, env=quiet_env(build_copy.parent))
    problems = user_error_problems(result, exit_code=5, contains=["backdoor.so"])
    assert not problems, "\n".join(problems) + "\n" + result.describe()


def test_every_single_bit_flip_of_sha256sums_is_caught(build_copy: Path) -> None:
    """Exhaustive over the small checksum file (in-process, no inference: a few seconds)."""
    from builder.verify.artifact import verify_path

    sums = build_copy / "SHA256SUMS"
    original = sums.read_bytes()
    missed = []
    for index in range(len(original)):
        changed = bytearray(original)
        changed[index] ^= 0x01
        sums.write_bytes(bytes(changed))
        if verify_path(build_copy, run_inference=False).ok:
            missed.append(f"byte {index}: {original[index : index + 1]!r} -> {bytes(changed[index : index + 1])!r}")
    sums.write_bytes(original)
    assert missed == []
