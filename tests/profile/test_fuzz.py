"""Fuzzing: whatever a profile file holds, ``load_profile`` returns a Profile or raises ProfileError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ProfileError
from builder.profile import Profile, load_profile
from builder.profile.fields import iter_fields

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELD_PATHS = [path for path, _ in iter_fields() if "<output>" not in path]
KEYS = st.sampled_from(sorted({part for path in FIELD_PATHS for part in path if isinstance(part, str)}) + ["output0"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "fp16",
            "int8",
            "tensorrt",
            "onnxruntime",
            "4GiB",
            "on",
            "off",
            "8.6",
            "yolo11n.yaml",
            "w/best.pt",
            "../x",
            "ampere_plus",
            "bus.jpg",
            "detect",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner, max_size=4)
    ),
    max_leaves=12,
)
TOKENS = [
    "name: fuzz",
    "backend:",
    "precision:",
    "model:",
    "imgsz:",
    "batch:",
    "verify:",
    "int8:",
    "extends:",
    " ",
    "  ",
    "\n",
    "\t",
    "-",
    "- ",
    ":",
    ": ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    '"',
    "#",
    "&a",
    "*a",
    "<<: *a",
    "!!str",
    "!!python/name:os.system",
    "!x",
    "?",
    "|",
    ">",
    "---",
    "...",
    "%YAML 1.1",
    "null",
    "~",
    "yes",
    "1e400",
    "0x1f",
    "2024-13-45",
    "fp16",
    "640",
    "\\",
    "\x00",
    "\ufeff",
    "é",
]
VALID = {
    "name": "fuzz",
    "backend": "tensorrt",
    "model": {"yaml": "yolo11n.yaml"},
    "precision": "int8",
    "int8": {"data": "calib"},
    "target": {"gpu": "A10", "compute_capability": "8.6"},
}


def _load(folder: Path, text: str) -> None:
    (folder / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        profile = load_profile("fuzz", folder)
    except ProfileError as exc:
        assert exc.errors and all(e.file and e.message for e in exc.errors)
        return
    assert isinstance(profile, Profile)
    json.dumps(profile.to_dict())
    assert len(profile.sha256()) == 64


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.text(max_size=300))
def test_random_text(folder: Path, text: str) -> None:
    _load(folder, text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_yaml_ish_tokens(folder: Path, tokens: list[str]) -> None:
    _load(folder, "".join(tokens))


@FUZZ
@given(VALUES)
@pytest.mark.slow  # hypothesis; test_random_text and test_yaml_ish_tokens stay in the fast tier
def test_random_documents(folder: Path, document: Any) -> None:
    _load(folder, yaml.safe_dump(document))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FIELD_PATHS), VALUES), max_size=4))
@pytest.mark.slow  # hypothesis; test_random_text and test_yaml_ish_tokens stay in the fast tier
def test_valid_profile_with_random_changes(folder: Path, changes: list[tuple[tuple[str, ...], Any]]) -> None:
    document: dict[str, Any] = json.loads(json.dumps(VALID))
    for path, value in changes:
        node = document
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    _load(folder, yaml.safe_dump(document))
