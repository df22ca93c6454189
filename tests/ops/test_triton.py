"""Triton config.pbtxt generation."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from builder.errors import ArtifactError
from builder.ops.triton import model_name, triton_model
from builder.record.manifest_read import ManifestView, read_manifest
from tests.ops.fakes import CPU_METADATA, synthetic_manifest


def _dynamic_metadata(low=1, opt=8, high=16):
    meta = copy.deepcopy(CPU_METADATA)
    meta["batch"] = {"min": low, "opt": opt, "max": high}
    meta["inputs"][0]["shape"] = [-1, 3, 64, 64]
    meta["outputs"][0]["shape"] = [-1, 84, 84]
    return meta


def _field(config: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}: (.+)$", config, flags=re.M)


def test_static_cpu_model_uses_onnxruntime_platform_and_full_shapes():
    model = triton_model(_view("tiny"), CPU_METADATA)
    assert (model.platform, model.model_path, model.config_path) == (
        "onnxruntime_onnx",
        "tiny/1/model.onnx",
        "tiny/config.pbtxt",
    )
    assert _field(model.config, "max_batch_size") == ["0"]
    assert _field(model.config, "dims") == ["[ 1, 3, 64, 64 ]", "[ 1, 84, 84 ]"]
    assert _field(model.config, "data_type") == ["TYPE_FP32", "TYPE_FP32"]
    assert _field(model.config, "name") == ['"tiny"', '"images"', '"output0"']
    assert "dynamic_batching" not in model.config and "KIND_CPU" in model.config


def test_dynamic_tensorrt_engine_batches_up_to_profile_max_preferring_opt():
    model = triton_model(_view("a100-fp16-dynamic", backend="tensorrt"), _dynamic_metadata())
    assert (model.platform, model.model_path) == ("tensorrt_plan", "a100-fp16-dynamic/1/model.plan")
    assert _field(model.config, "max_batch_size") == ["16"] and model.max_batch_size == 16
    assert _field(model.config, "dims") == ["[ 3, 64, 64 ]", "[ 84, 84 ]"]
    assert _field(model.config, "preferred_batch_size") == ["[ 8 ]"]
    assert "KIND_GPU" in model.config and 'default_model_filename: "model.plan"' in model.config


def test_minimum_batch_above_one_is_called_out_in_the_config():
    model = triton_model(_view("x", backend="tensorrt"), _dynamic_metadata(low=2, opt=4, high=8))
    assert "send at least 2 images per request" in model.config


def test_config_is_balanced_protobuf_text():
    config = triton_model(_view("x", backend="tensorrt"), _dynamic_metadata()).config
    text = re.sub(r"#.*", "", config)
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")


def test_dynamic_batch_on_some_tensors_only_is_rejected():
    meta = _dynamic_metadata()
    meta["outputs"][0]["shape"] = [1, 84, 84]
    with pytest.raises(ArtifactError, match="dynamic on some tensors only"):
        triton_model(_view("x"), meta)


def test_unknown_dtype_names_the_tensor():
    meta = copy.deepcopy(CPU_METADATA)
    meta["outputs"][0]["dtype"] = "complex64"
    with pytest.raises(ArtifactError, match="output 'output0' has dtype 'complex64'"):
        triton_model(_view("x"), meta)


def test_model_names_are_folder_safe():
    assert model_name("a10 fp16/x") == "a10_fp16_x"
    assert model_name("cpu-fp32") == "cpu-fp32"


def _view(*args: Any, **kwargs: Any) -> ManifestView:
    """A synthetic manifest, read as every consumer reads one."""
    return read_manifest(synthetic_manifest(*args, **kwargs))
