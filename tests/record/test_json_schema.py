"""builder.record.json_schema: the manifest schema's own checker agrees with ``jsonschema`` (4.26, Draft 2020-12) on
every
value of a real manifest replaced by values of each JSON type, and names the place of each problem."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builder.profile.load import load_profile
from builder.record.json_schema import schema_errors
from builder.record.manifest import SCHEMA_PATH, ArtifactRecord, Manifest, StageRecord, manifest_problems
from tests.support import REPO

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads(SCHEMA_PATH.read_text())
REPLACEMENTS: list[Any] = [None, True, 0, -1, 1.5, "", "x", "../x", [], [1], {}, {"a": "b"}]


def sample_manifest() -> dict[str, Any]:
    """A succeeded manifest as the pipeline writes it (the shipped cpu-fp32 profile, one GPU on record)."""
    profile = load_profile("cpu-fp32", REPO / "profiles")
    gpu = {
        "index": 0,
        "name": "NVIDIA A10",
        "uuid": "GPU-1",
        "compute_capability": "8.6",
        "memory_total_mib": 1,
        "driver_version": "535.1",
    }
    manifest = Manifest(
        build_id="20260101T000000Z-0123456789ab",
        build_key="0" * 64,
        profile={
            "name": "cpu-fp32",
            "source": "profiles/cpu-fp32.yaml",
            "sha256": "1" * 64,
            "resolved": profile.to_dict(),
        },
        inputs={},
        environment={"packages": {"onnxruntime": "1.32.0", "tensorrt": None}, "gpus": [gpu], "cuda": None},
        status="succeeded",
        stages=(StageRecord("build", "ok", details={"gpu": gpu}),),
        artifacts=(ArtifactRecord("model.ort.onnx", "model", 10, "2" * 64),),
    )
    return json.loads(json.dumps(manifest.to_dict(), default=str))


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            if path[:2] != ("profile", "resolved"):  # the resolved profile is the profile validator's (below)
                yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(data)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return out


def dotted(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "<top level>"


def test_the_sample_is_valid() -> None:
    assert manifest_problems(sample_manifest()) == []


def test_every_replacement_gets_the_verdicts_of_jsonschema() -> None:
    sample = sample_manifest()
    validator = jsonschema.Draft202012Validator(SCHEMA)
    compared = 0
    for path in leaves(sample):
        for value in REPLACEMENTS:
            data = replaced(sample, path, value)
            ours = sorted({line.split(": ", 1)[0] for line in schema_errors(data, SCHEMA)})
            theirs = sorted({dotted(e.absolute_path) for e in validator.iter_errors(data)})
            assert ours == theirs, f"{dotted(path)} = {value!r}: ours {ours}, jsonschema {theirs}"
            compared += 1
    assert compared > 500


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("artifacts", 0, "path"),
            "../../etc/passwd",
            "artifacts[0].path: must be a relative path inside the build folder",
        ),
        (("artifacts", 0, "path"), "/etc/passwd", "artifacts[0].path: must be a relative path inside the build folder"),
        (("artifacts", 0, "path"), "a\\b", "artifacts[0].path: must be a relative path inside the build folder"),
        (("artifacts", 0, "size"), "big", "artifacts[0].size: must be an integer, got 'big'"),
        (("environment", "packages"), ["x"], "environment.packages: must be an object, got an array"),
        (("profile", "resolved", "imgsz"), "huge", "profile.resolved.imgsz: must be an integer or a list"),
        (("profile", "resolved", "batch", "opt"), 0, "profile.resolved.batch.opt: must be between 1 and 256"),
        (("stages", 0, "status"), "failed", "stages[0].status: 'failed' in a build whose status is 'succeeded'"),
        (("status",), None, "status: must be one of running | succeeded | failed, got null"),
    ],
)
def test_problems_name_the_field(path: tuple[Any, ...], value: Any, expected: str) -> None:
    problems = manifest_problems(replaced(sample_manifest(), path, value))
    assert problems and problems[0].startswith(expected), problems


def test_paths_inside_the_folder_are_accepted() -> None:
    for path in ("model.plan", "sub/dir/x.json", "a..b", ".hidden", "x y"):
        assert manifest_problems(replaced(sample_manifest(), ("artifacts", 0, "path"), path)) == [], path


def test_a_schema_with_a_keyword_the_checker_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="oneOf"):
        schema_errors({}, {"type": "object", "properties": {"a": {"oneOf": []}}})


def test_the_schema_file_is_the_one_load_manifest_uses(tmp_path: Path) -> None:
    from builder.errors import ArtifactError
    from builder.record.manifest import load_manifest

    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(replaced(sample_manifest(), ("profile", "resolved", "imgsz"), "huge")))
    with pytest.raises(ArtifactError, match=r"manifest field profile\.resolved\.imgsz: .*'huge'"):
        load_manifest(path)
