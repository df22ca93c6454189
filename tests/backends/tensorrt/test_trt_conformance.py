"""Conformance of the recording fake (trt_fakes.py) with the real TensorRT API, so fake-driven tests mean something.

1. Every TensorRT method and property the builder uses (``trt_calls.py``, ``smoke.py``) exists in tensorrt-stubs
   (generated from the TensorRT 10.13 bindings) with the same parameter names as the fake's.
2. Members that only some versions have: a table (attribute -> TensorRT families that have it) taken from the
   ``.def``/``.value`` bindings in NVIDIA/TensorRT ``python/src/infer/pyCore.cpp`` and ``python/src/parsers/pyOnnx.cpp``
   on release/8.6 (8.6.1.6), release/10.0 (10.0.1.6), release/10.16 and release/11.0 (11.0.0.114); checked against
   the fake shaped like each version, against the stubs (a 10.x), and against the version gates in versions.py.
"""

from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from typing import Any

import pytest

from builder.backends.tensorrt.versions import features_for, parse_trt_version
from tests.backends.tensorrt.trt_fakes import make_fake_trt
from tests.backends.tensorrt.trt_stubs import installed_stub_dirs, repair

pytestmark = pytest.mark.skipif(not installed_stub_dirs(), reason="tensorrt-stubs is not installed")

# (stub class, member) the builder calls or reads; "" = module level.
USED = {
    "Builder": [
        "__init__", "create_network", "create_builder_config", "create_optimization_profile", "build_serialized_network"
    ],
    "INetworkDefinition": ["get_input", "get_output", "get_layer", "num_inputs", "num_outputs", "num_layers"],
    "ILayer": ["set_output_type", "num_outputs", "name", "type", "precision"],
    "ITensor": ["name", "shape", "dtype", "is_network_input"],
    "OnnxParser": ["__init__", "set_flag", "parse_from_file", "get_error", "num_errors"],
    "ParserError": ["code", "desc", "node"],
    "IBuilderConfig": ["set_flag", "clear_flag", "set_memory_pool_limit", "add_optimization_profile",
                       "create_timing_cache", "set_timing_cache", "get_timing_cache"],
    "IOptimizationProfile": ["set_shape"],
    "ITimingCache": ["serialize"],
    "Runtime": ["__init__", "deserialize_cuda_engine", "engine_host_code_allowed"],
    "ICudaEngine": ["create_engine_inspector"],
    "EngineInspector": ["get_engine_information"],
}  # fmt: skip

# attribute -> the TensorRT families that bind it (pyCore.cpp / pyOnnx.cpp at the refs above).
VERSIONED: dict[tuple[str, str], set[str]] = {
    ("NetworkDefinitionCreationFlag", "EXPLICIT_BATCH"): {"8.6", "10"},  # 11.0: gone (always strongly typed)
    ("NetworkDefinitionCreationFlag", "STRONGLY_TYPED"): {"10", "11"},
    ("BuilderFlag", "FP16"): {"8.6", "10"},  # 11.0: precision builder flags removed
    ("BuilderFlag", "INT8"): {"8.6", "10"},
    ("BuilderFlag", "OBEY_PRECISION_CONSTRAINTS"): {"8.6", "10"},
    ("BuilderFlag", "TF32"): {"8.6", "10", "11"},
    ("BuilderFlag", "VERSION_COMPATIBLE"): {"8.6", "10", "11"},
    ("", "IInt8MinMaxCalibrator"): {"8.6", "10"},  # 11.0: the calibrator family is gone
    ("IBuilderConfig", "set_calibration_profile"): {"8.6", "10"},
    ("ParserError", "node_name"): {"10", "11"},  # 10.0+
    ("ParserError", "node_operator"): {"10", "11"},
}
VERSIONS = {"8.6": "8.6.1.6", "10": "10.3.0", "11": "11.0.0.114"}


@lru_cache(maxsize=1)
def stub_classes() -> dict[str, dict[str, ast.FunctionDef | None]]:
    """Class -> member -> its first ``def`` in the stubs; None for an annotated attribute (``name: str``)."""
    folder = installed_stub_dirs()[1]  # tensorrt_bindings
    tree = ast.parse(repair((folder / "tensorrt.pyi").read_text())[0])
    classes: dict[str, dict[str, ast.FunctionDef | None]] = {"": {}}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = classes.setdefault(node.name, {})
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members.setdefault(item.name, item)  # the first overload
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.setdefault(item.target.id, None)
        elif isinstance(node, ast.FunctionDef):
            classes[""][node.name] = node
    return classes


def _is_property(node: ast.FunctionDef | None) -> bool:
    return node is None or any(
        ast.unparse(d) == "property" or ast.unparse(d).endswith(".setter") for d in node.decorator_list
    )


def _stub_params(node: ast.FunctionDef) -> list[str]:
    return [a.arg for a in node.args.args[1:]]


def _fake_has(fake_class: Any, member: str) -> bool:
    if hasattr(fake_class, member) or member in getattr(fake_class, "__annotations__", {}):
        return True
    source = inspect.getsource(fake_class)  # instance attributes set in __init__ / properties
    return f"self.{member}" in source or f", self.{member}" in source


@pytest.mark.parametrize("cls", sorted(USED))
def test_every_used_member_exists_in_the_stubs_with_the_fakes_parameters(cls: str) -> None:
    stubs = stub_classes()[cls]
    fake_class = make_fake_trt("10.3.0").fake_classes[cls]
    for member in USED[cls]:
        assert member in stubs, f"{cls}.{member} is not in tensorrt-stubs"
        node = stubs[member]
        if _is_property(node):
            assert _fake_has(fake_class, member), f"the fake {cls} lacks the property {member}"
            continue
        assert node is not None
        fake = getattr(fake_class, member)
        fake_params = [p for p in inspect.signature(fake).parameters][1:]
        assert fake_params == _stub_params(node), f"{cls}.{member}: fake {fake_params} != stubs {_stub_params(node)}"


def test_module_level_functions_match_the_stubs() -> None:
    fake = make_fake_trt("10.3.0")
    assert _stub_params_of_function("init_libnvinfer_plugins") == ["logger", "namespace"]
    assert fake.init_libnvinfer_plugins.__code__.co_argcount == 2
    assert "Weights" in stub_classes() and "nptype" in _bindings_init_functions()


def _stub_params_of_function(name: str) -> list[str]:
    node = stub_classes()[""][name]
    assert node is not None
    return [a.arg for a in node.args.args]


def _bindings_init_functions() -> set[str]:
    tree = ast.parse((installed_stub_dirs()[1] / "__init__.pyi").read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def _present(trt: Any, owner: str, member: str) -> bool:
    if owner == "":
        return hasattr(trt, member)
    if owner in ("IBuilderConfig", "ParserError"):
        return hasattr(trt.fake_classes[owner], member)
    return hasattr(getattr(trt, owner), member)


@pytest.mark.parametrize("family", sorted(VERSIONS))
def test_the_fake_of_each_version_has_exactly_the_versioned_members(family: str) -> None:
    trt = make_fake_trt(VERSIONS[family])
    for (owner, member), families in VERSIONED.items():
        assert _present(trt, owner, member) is (family in families), f"{owner}.{member} on TensorRT {family}"


@pytest.mark.slow  # walks the whole TensorRT 10.13 stub
def test_the_table_agrees_with_the_stubs_a_10x() -> None:
    classes = stub_classes()
    for (owner, member), families in VERSIONED.items():
        if owner in ("NetworkDefinitionCreationFlag", "BuilderFlag"):
            source = ast.unparse(ast.ClassDef(owner, [], [], list(_class_body(owner)), []))
            present = f"{member}:" in source or f"{member} =" in source
        elif owner == "":
            present = member in classes
        else:
            present = member in classes.get(owner, {})
        assert present is ("10" in families), f"{owner}.{member}: stubs say {present}"


def _class_body(name: str) -> list[ast.stmt]:
    tree = ast.parse(repair((installed_stub_dirs()[1] / "tensorrt.pyi").read_text())[0])
    return next(node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)


@pytest.mark.parametrize("family", sorted(VERSIONS))
def test_version_gates_follow_the_table(family: str) -> None:
    feats = features_for(parse_trt_version(VERSIONS[family]))
    assert feats.precision_flags is (family in VERSIONED[("BuilderFlag", "FP16")])
    # INT8 calibrators exist exactly where the precision flags do (TrtFeatures keeps one field for both)
    assert feats.precision_flags is (family in VERSIONED[("", "IInt8MinMaxCalibrator")])
    assert not feats.calibration_profile or family in VERSIONED[("IBuilderConfig", "set_calibration_profile")]
    trt = make_fake_trt(VERSIONS[family])
    for flag in feats.network_flags:
        assert family in VERSIONED[("NetworkDefinitionCreationFlag", flag)] and hasattr(
            trt.NetworkDefinitionCreationFlag, flag
        )
