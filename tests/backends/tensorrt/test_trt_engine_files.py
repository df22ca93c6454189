"""Raw plan vs Ultralytics engine: writer, reader, and Ultralytics' own reader on our file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from builder.backends.tensorrt.engine_files import (
    CALIBRATION_CACHE,
    LAYERS,
    PLAN,
    ULTRALYTICS_ENGINE,
    read_engine_bytes,
    read_plan,
    ultralytics_engine_bytes,
    ultralytics_metadata,
    write_layers_json,
)
from builder.backends.tensorrt.onnx_facts import onnx_facts
from builder.errors import ArtifactError

PLAN_BYTES = b"ftrt" + os.urandom(256)


def test_artifact_names_and_kinds_never_collide() -> None:
    outs = (PLAN, ULTRALYTICS_ENGINE, LAYERS, CALIBRATION_CACHE)
    assert len({o.path for o in outs}) == len({o.kind for o in outs}) == 4
    assert PLAN.kind == "model" and ULTRALYTICS_ENGINE.kind == "ultralytics-engine" and LAYERS.kind == "layers"


def test_round_trip_and_ultralytics_reads_our_header(tmp_path: Path, static_onnx: Path) -> None:
    from ultralytics.nn.backends.base import BaseBackend

    meta = ultralytics_metadata(onnx_facts(static_onnx).metadata, "yolo-fp16")
    data = ultralytics_engine_bytes(PLAN_BYTES, meta)
    assert data[:4] == len(json.dumps(meta).encode()).to_bytes(4, "little") and data.endswith(PLAN_BYTES)
    back = read_engine_bytes(data)
    assert back.plan == PLAN_BYTES and back.metadata == meta
    path = tmp_path / "model.engine"
    path.write_bytes(data)
    offset, theirs = BaseBackend.engine_header(path)  # ultralytics' own reader
    assert data[offset:] == PLAN_BYTES and theirs == meta
    assert theirs["engine_foundry_profile"] == "yolo-fp16" and theirs["stride"] == "32" and "names" in theirs
    assert read_plan(path) == PLAN_BYTES


def test_raw_plans_are_never_mistaken_for_headers(tmp_path: Path) -> None:
    assert read_engine_bytes(PLAN_BYTES).metadata is None
    fake_len = (20).to_bytes(4, "little") + b"not json at all......" + PLAN_BYTES
    assert read_engine_bytes(fake_len).metadata is None and read_engine_bytes(fake_len).plan == fake_len
    list_json = (2).to_bytes(4, "little") + b"[]" + PLAN_BYTES
    assert read_engine_bytes(list_json).metadata is None  # JSON but not an object
    too_long = (10_000).to_bytes(4, "little") + b"{}"
    assert read_engine_bytes(too_long).plan == too_long
    assert read_engine_bytes(b"ab").plan == b"ab"
    raw = tmp_path / "model.plan"
    raw.write_bytes(PLAN_BYTES)
    assert read_plan(raw) == PLAN_BYTES
    with pytest.raises(ArtifactError, match="not found"):
        read_plan(tmp_path / "missing.plan")
    (tmp_path / "empty.plan").write_bytes(b"")
    with pytest.raises(ArtifactError, match="holds no plan"):
        read_plan(tmp_path / "empty.plan")


def test_layers_json(tmp_path: Path) -> None:
    info = json.dumps({"Layers": [{"Name": "conv", "TacticName": "a"}], "Bindings": ["images", "output0"]})
    assert write_layers_json(tmp_path / "layers.json", info) == 1
    assert json.loads((tmp_path / "layers.json").read_text()) == json.loads(info)
    assert write_layers_json(tmp_path / "l2.json", json.dumps({"Bindings": []})) == 0
