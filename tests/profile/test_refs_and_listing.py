"""How ``load_profile`` finds a file, and ``list_profiles`` over good and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ProfileError, UsageError
from builder.profile import available_profiles, list_profiles, load_profile
from builder.profile.source import read_yaml_document
from tests.profile.helpers import CPU_BODY, PROFILES, error_text, write_profile


def test_name_and_path_refer_to_the_same_profile() -> None:
    by_name = load_profile("cpu-fp32", PROFILES)
    by_path = load_profile(PROFILES / "cpu-fp32.yaml", Path("/nonexistent"))
    by_text = load_profile(str(PROFILES / "cpu-fp32.yaml"), Path("/nonexistent"))
    assert by_name.sha256() == by_path.sha256() == by_text.sha256()


def test_missing_profile_names_the_path_and_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("a10-fp61", PROFILES)
    text = error_text(caught.value)
    assert str(PROFILES / "a10-fp61.yaml") in text and "no such profile file" in text
    assert caught.value.hint is not None
    for name in ("cpu-fp32", "a10-fp16", "h100-fp16"):
        assert name in caught.value.hint
    assert "_tensorrt-base" not in caught.value.hint


def test_a_file_name_is_not_looked_up_in_profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as caught:
        load_profile("cpu-fp32.yaml", PROFILES)
    assert "pass the profile name 'cpu-fp32'" in str(caught.value.hint)


@pytest.mark.parametrize("ref", ["../secrets", "..", "CPU-FP32", "a b", ""])
def test_bad_names_are_refused(ref: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(ref, PROFILES)
    assert "cpu-fp32" in str(caught.value.hint)


@pytest.mark.parametrize("ref", ["profiles/cpu-fp32.json", Path("notes.txt")])
def test_a_path_must_be_yaml(ref: str | Path) -> None:
    with pytest.raises(ProfileError, match="must end in .yaml"):
        load_profile(ref, PROFILES)


def test_a_folder_is_not_a_profile(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ProfileError, match="not a file"):
        load_profile("dir", tmp_path)


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ProfileError, match="is a folder, not a regular file"):
        read_yaml_document(tmp_path / "folder.yaml")


def test_binary_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_bytes(b"name: p\n\xff\xfe\x00")
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profile("p", tmp_path)


def test_list_profiles_reports_bad_files_without_raising(tmp_path: Path) -> None:
    write_profile(tmp_path, "good", CPU_BODY + "description: fine\n")
    write_profile(tmp_path, "typo", CPU_BODY + "precison: fp32\n")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    write_profile(tmp_path, "_base", "backend: tensorrt\n")
    write_profile(tmp_path, "_bad-base", "backend: cuda\n")
    write_profile(tmp_path, "orphan", "extends: _missing\nprecision: fp16\n")
    (tmp_path / "notes.txt").write_text("not a profile", encoding="utf-8")

    listing = {item.name: item for item in list_profiles(tmp_path)}

    assert list(listing) == sorted(listing)
    assert set(listing) == {"good", "typo", "broken", "empty", "_base", "_bad-base", "orphan"}
    good = listing["good"]
    assert (good.error, good.backend, good.precision, good.description, good.abstract) == (
        None,
        "onnxruntime",
        "fp32",
        "fine",
        False,
    )
    assert good.path == tmp_path / "good.yaml"
    assert "did you mean 'precision'" in str(listing["typo"].error)
    assert listing["typo"].backend == "onnxruntime"
    assert "invalid YAML" in str(listing["broken"].error)
    assert "empty" in str(listing["empty"].error)
    assert listing["_base"].abstract and listing["_base"].error is None and listing["_base"].backend == "tensorrt"
    assert listing["_bad-base"].abstract and "did you mean" not in str(listing["_bad-base"].error)
    assert "must be one of tensorrt | onnxruntime" in str(listing["_bad-base"].error)
    assert "no profile '_missing'" in str(listing["orphan"].error)


def test_list_profiles_of_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        list_profiles(tmp_path / "nope")
    assert available_profiles(tmp_path / "nope") == []
