"""Bad profiles as data: ``tests/data/profiles/bad/**/<case>.yaml`` + ``<case>.expected``.

``<case>.expected`` holds one expected substring of the error per line; lines starting with ``# `` are
directives: ``# errors: N`` (at least N problems reported), ``# file: NAME`` (the file the problems name,
when it is a base rather than the case itself). Files without ``.expected`` are helpers (bases).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ExitCode, ProfileError
from builder.profile import load_profile

BAD = Path(__file__).resolve().parent.parent / "data" / "profiles" / "bad"
CASES = sorted(BAD.rglob("*.expected"))


def _expectations(path: Path) -> tuple[list[str], int, str]:
    substrings, min_errors, file_name = [], 1, path.with_suffix(".yaml").name
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# errors: "):
            min_errors = int(line.removeprefix("# errors: "))
        elif line.startswith("# file: "):
            file_name = line.removeprefix("# file: ")
        elif line.strip():
            substrings.append(line)
    return substrings, min_errors, file_name


def test_enough_bad_cases() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert case.with_suffix(".yaml").is_file(), f"{case} has no .yaml beside it"


@pytest.mark.parametrize("expected_file", CASES, ids=[str(c.relative_to(BAD).with_suffix("")) for c in CASES])
def test_bad_profile_is_rejected_with_every_problem(expected_file: Path) -> None:
    substrings, min_errors, file_name = _expectations(expected_file)
    assert substrings, f"{expected_file} lists no expected text"
    profile_file = expected_file.with_suffix(".yaml")

    with pytest.raises(ProfileError) as caught:
        load_profile(profile_file, expected_file.parent)

    error = caught.value
    text = "\n".join([str(error), f"TIP {error.hint}", *(str(e) for e in error.errors)])
    missing = [s for s in substrings if s not in text]
    assert not missing, f"expected {missing} in:\n{text}"
    assert len(error.errors) >= min_errors, text
    assert any(Path(e.file).name == file_name for e in error.errors), text
    assert file_name in str(error) or len(error.errors) > 1, text
    assert error.exit_code == ExitCode.USAGE
    for field_error in error.errors:
        assert field_error.file and field_error.message
        assert field_error.line is None or field_error.line >= 1
