"""The JSON Schema and the field reference are generated from the field table and kept in sync."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from builder.profile.fields import iter_fields
from builder.profile.reference import BEGIN, END, field_reference_markdown
from builder.profile.schema import profile_json_schema, profile_json_schema_text
from builder.profile.source import format_key_path
from tests.profile.helpers import PROFILES, REPO
from tests.support import shipped_files

BAD = REPO / "tests" / "data" / "profiles" / "bad"
DOCS = REPO / "docs" / "profiles.md"

# Bad fixtures whose problem one file's schema can see (the others need the merged profile or are not YAML).
SCHEMA_CATCHES = [
    "unknown-key-did-you-mean",
    "nested-unknown-key",
    "unknown-key-no-match",
    "wrong-types",
    "imgsz-not-multiple-of-32",
    "imgsz-out-of-range",
    "imgsz-three-sides",
    "batch-out-of-range",
    "int8-data-traversal",
    "workspace-lots",
    "workspace-bare-number",
    "name-path-traversal",
    "name-missing",
    "extends-path-traversal",
    "checkpoint-path-traversal",
    "checkpoint-absolute",
    "checkpoint-not-pt",
    "sha256-malformed",
    "model-yaml-with-folder",
    "opset-out-of-range",
    "bool-as-string",
    "compute-capability-unquoted",
    "compute-capability-malformed",
    "top-level-list",
    "top-level-scalar",
    "task-unknown",
    "choice-typos",
    "verify-out-of-range",
    "timing-cache-bad-name",
    "many-problems",
]


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(profile_json_schema())


def test_schema_is_valid_draft_2020_12() -> None:
    schema = profile_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_shipped_schema_file_is_the_generated_one() -> None:
    shipped = (PROFILES / "profile.schema.json").read_text(encoding="utf-8")
    assert shipped == profile_json_schema_text(), "run: python -m builder.profile.schema profiles/profile.schema.json"
    assert json.loads(shipped) == profile_json_schema()


@pytest.mark.parametrize("path", shipped_files("profiles", "*.yaml"), ids=lambda p: p.name)
def test_shipped_profiles_validate_against_the_schema(path: Path) -> None:
    errors = list(_validator().iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("case", SCHEMA_CATCHES)
def test_bad_fixtures_fail_the_schema(case: str) -> None:
    data = yaml.safe_load((BAD / f"{case}.yaml").read_text(encoding="utf-8"))
    assert list(_validator().iter_errors(data)), f"{case}.yaml passes the schema"


def test_schema_covers_every_field_of_the_table() -> None:
    schema = profile_json_schema()
    for path, _ in iter_fields():
        node = schema
        for part in path:
            node = _object_schema(node)
            node = node["additionalProperties"] if part == "<output>" else node["properties"][part]
        assert "description" in node or path[-1] == "<output>", format_key_path(path)


def _object_schema(node: dict) -> dict:
    """The object alternative of a field schema (fields may be nullable or "integer or mapping")."""
    if node.get("type") == "object":
        return node
    for option in node.get("anyOf", []):
        if option.get("type") == "object":
            return option
    raise AssertionError(f"no object schema in {node}")


def test_docs_reference_is_the_generated_one() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    between = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert between.strip() == field_reference_markdown().strip(), (
        "run: python -m builder.profile.reference docs/profiles.md"
    )


def test_docs_mention_every_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for path, _ in iter_fields():
        assert f"`{format_key_path(path)}`" in text, format_key_path(path)


def test_docs_list_every_shipped_profile() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for path in shipped_files("profiles", "[!_]*.yaml"):
        assert f"`{path.stem}`" in text
