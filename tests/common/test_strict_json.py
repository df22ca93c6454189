"""JSON the tool reads back is parsed once, strictly (builder/common/strict_json.py): every ``json-*`` case of
tests/data/bad_manifests/ (NaN, Infinity, numbers too large, integers past 64 bits, duplicate keys, lone surrogates,
nesting too deep) makes ``verify`` of a synthetic, checksummed build NO-GO with exit 5 naming the field; the slow
tier runs the same cases on a real build and bundle (tests/faults/test_bad_manifests.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.cli import main
from builder.common.strict_json import MAX_DEPTH, JsonContentError, loads
from tests.faults.test_bad_manifests import CASES_DIR, _resum, raw_edited
from tests.ops.fakes import synthetic_manifest, write_build

RAW_CASES = sorted(CASES_DIR.glob("json-*.yaml"))


@pytest.mark.parametrize("path", RAW_CASES, ids=lambda p: p.stem)
def test_verify_of_a_manifest_with_bad_json_is_no_go_naming_the_field(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case: dict[str, Any] = yaml.safe_load(path.read_text())
    build = write_build(tmp_path / "artifacts", synthetic_manifest("tiny"))
    manifest = build / "manifest.json"
    manifest.write_text(raw_edited(manifest.read_text(), case))
    _resum(build)
    code = main(["verify", str(build)])
    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if line.startswith("ERROR ")]
    assert code == case["expect"]["exit_code"] == 5, err
    assert len(errors) == 1 and all(part in errors[0] for part in case["expect"]["error_contains"]), err
    assert "Traceback" not in "\n".join(err)


def test_there_is_a_case_of_each_kind_the_parser_refuses() -> None:
    problems = set()
    for path in RAW_CASES:
        problems.update(yaml.safe_load(path.read_text())["expect"]["error_contains"][1:])
    for kind in ("NaN", "Infinity", "too large", "64-bit", "more than once", "surrogate", "nests deeper"):
        assert any(kind in problem for problem in problems), kind


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"a": [{"b": NaN}]}', "a[0].b"),
        ('[1, {"k": {"k": 1, "k": 2}}]', "[1].k.k"),
        ('{"x": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "x" + "[0]" * (MAX_DEPTH - 1)),
        ('{"n": -9223372036854775809}', "n"),
    ],
)
def test_the_field_is_the_dotted_path_of_the_value(text: str, field: str) -> None:
    with pytest.raises(JsonContentError) as caught:
        loads(text)
    assert caught.value.field == field


def test_what_records_hold_parses_as_plain_json() -> None:
    text = json.dumps({"a": [1, 2.5, -3, "é", None, True, {"b": 9223372036854775807}], "deep": [[[[]]]]})
    assert loads(text) == json.loads(text) and type(loads(text)["a"][6]) is dict
