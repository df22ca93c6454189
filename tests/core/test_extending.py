"""A toy backend, a toy GPU backend and a toy profile field, added only through the extension points of
docs/dev/architecture.md ("Extending"): a catalogue entry (``register_backend``) and a field in a copy of the field
table whose section builds a dataclass with the new attribute. Nothing else is edited; validation, the JSON Schema, the
field reference, doctor, the registry, the launcher's container spec, the build key, the farm's routing and ops pick
them up. No module outside the catalogue and a backend's own package names a backend (the last tests hold that).
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from builder.backends.catalog import (
    BackendEntry,
    TritonPlatform,
    backend_names,
    register_backend,
    unregister_backend,
)
from builder.backends.registry import get_backend
from builder.errors import FieldError, ProfileError
from builder.farm.routing import ACCELERATOR_PREFIX, FarmNode, route_profile
from builder.farm.run import _key_function
from builder.host.spec import container_spec, flavour_for_backend
from builder.machine import doctor
from builder.machine.environment import key_packages
from builder.machine.gpu import GpuInfo
from builder.ops.drift import Severity, compare_manifests
from builder.ops.triton import triton_model
from builder.profile import Backend, Profile, load_profile
from builder.profile.complete import profile_from_data
from builder.profile.fields import PROFILE
from builder.profile.kinds import Number
from builder.profile.reference import field_reference_markdown
from builder.profile.schema import profile_json_schema
from builder.profile.sections import Field
from builder.profile.validate import Report, validate
from builder.record.buildkey import build_key_for
from builder.record.manifest_read import read_manifest
from builder.verify.compat import HostFacts, check_host, requirements_from_manifest
from tests.host.test_spec import settings
from tests.ops.fakes import synthetic_manifest
from tests.support import REPO, make_profile

TOY_PACKAGE = "toyvino-runtime-absent"  # a package that is not installed anywhere


@pytest.fixture
def toy_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackendEntry]:
    """The ``toyvino`` backend: its module in a temporary package, one catalogue entry."""
    package = tmp_path / "toy_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toyvino.py").write_text(
        textwrap.dedent('''
        """A toy backend module: the catalogue imports it only when asked for."""
        NAME = "toyvino"

        def check_host(req, host):
            from builder.verify.compat import Verdict
            return [Verdict("toyvino", "pass", f"any CPU runs {req.backend}")]
    ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = register_backend(
        BackendEntry(
            name="toyvino",
            title="Toy IR for CPUs (test)",
            module="toy_plugins.toyvino",
            flavour="cpu",
            packages=(TOY_PACKAGE,),
            precisions=("fp32", "fp16"),
            host_check="toy_plugins.toyvino:check_host",
            only_fields=("toy_threshold",),
            triton=TritonPlatform("openvino", "model.xml", "KIND_CPU"),
        )
    )
    yield entry
    unregister_backend("toyvino")
    sys.modules.pop("toy_plugins.toyvino", None)
    sys.modules.pop("toy_plugins", None)


def _profile(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nmodel:\n  yaml: yolo11n.yaml\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def _errors(path: Path, profiles: Path) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(path.stem, profiles)
    return [str(error) for error in caught.value.errors]


def test_a_catalogued_backend_is_validated_built_and_documented(toy_backend, tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    good = load_profile(_profile(profiles, "toy-fp16", "backend: toyvino\nprecision: fp16\n"), profiles)
    assert good.backend.value == "toyvino" and good.precision.value == "fp16"

    int8 = _profile(profiles, "toy-int8", "backend: toyvino\nprecision: int8\nint8: {data: calib}\n")
    assert (
        "precision: backend toyvino supports only fp32, fp16, got int8; use backend: tensorrt or onnxruntime for int8"
    ) in "\n".join(_errors(int8, profiles))
    trt_key = _profile(profiles, "toy-workspace", "backend: toyvino\nprecision: fp32\nworkspace: 1GiB\n")
    assert any(
        "workspace: only applies to backend tensorrt (this profile's backend is toyvino); remove it" in e
        for e in _errors(trt_key, profiles)
    )
    typo = _profile(profiles, "toy-typo", "backend: toyvin\nprecision: fp32\n")
    assert any("did you mean 'toyvino'?" in e for e in _errors(typo, profiles))

    schema = profile_json_schema()
    assert "toyvino" in schema["properties"]["backend"]["enum"]
    jsonschema.validate(yaml.safe_load((profiles / "toy-fp16.yaml").read_text()), schema)
    assert "| `toyvino` | Toy IR for CPUs (test) | `cpu` | fp32, fp16 |" in field_reference_markdown()


def test_a_catalogued_backend_reaches_doctor_registry_launcher_and_ops(toy_backend, tmp_path, monkeypatch):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    _profile(profiles, "toy-fp32", "backend: toyvino\nprecision: fp32\n")
    monkeypatch.setattr(doctor, "_docker_client", lambda: (None, "not asked (test)"))
    report = doctor.run_doctor(profiles)
    assert report.host["docker"] == "not asked (test)"  # said once, on the host line; the profile points there
    assert report.profiles == [{"name": "toy-fp32", "buildable": False, "why": "no Docker engine (see host: docker)",
                                "ready": False, "missing": [f"python package {TOY_PACKAGE}"], "notes": []}]  # fmt: skip
    assert TOY_PACKAGE in report.packages and TOY_PACKAGE in key_packages()

    assert get_backend("toyvino").NAME == "toyvino"
    assert flavour_for_backend("toyvino") == "cpu"
    assert container_spec("toy-fp32", "toyvino", settings()).device_requests == ()

    manifest = read_manifest(synthetic_manifest("toy-fp32", backend="toyvino"))
    metadata = {
        "inputs": [{"name": "images", "shape": [1, 3, 64, 64], "dtype": "float32"}],
        "outputs": [{"name": "output0", "shape": [1, 84, 84], "dtype": "float32"}],
    }
    assert triton_model(manifest, metadata).model_path == "toy-fp32/1/model.xml"
    verdicts = check_host(requirements_from_manifest(manifest), HostFacts())
    assert [(v.name, v.status, v.message) for v in verdicts] == [("toyvino", "pass", "any CPU runs toyvino")]


@dataclasses.dataclass(frozen=True)
class ToyProfile(Profile):
    """The profile dataclass with one more attribute (what editing builder/profile/model.py adds)."""

    toy_threshold: float = 0.0


TOY_FIELD = Field("toy_threshold", Number(0.0, 1.0), "A toy score threshold, in [0, 1].", default=0.25)
TOY_TABLE = dataclasses.replace(PROFILE, fields=PROFILE.fields + (TOY_FIELD,), cls=ToyProfile)


def _check(data: dict, table=TOY_TABLE) -> list[FieldError]:
    report = Report(lambda path: ("toy.yaml", None), complete=True)
    validate(data, report, table)
    return report.errors


def _build(data: dict) -> Profile:
    report = Report(lambda path: ("toy.yaml", None), complete=True)
    valid = validate(data, report, TOY_TABLE)
    assert valid is not None, report.errors
    return profile_from_data(valid)


def test_a_field_added_to_the_table_is_validated_filled_built_and_documented():
    base = {"name": "toy", "backend": "onnxruntime", "precision": "fp32", "model": {"yaml": "yolo11n.yaml"}}
    assert _check(base) == []
    assert [str(e) for e in _check({**base, "toy_threshold": 2})] == [
        "toy.yaml: toy_threshold: must be in [0, 1], got 2"
    ]
    assert "unknown key 'toy_threshold'" in str(_check({**base, "toy_threshold": 0.5}, PROFILE)[0])

    built = _build(base)
    assert isinstance(built, ToyProfile) and built.toy_threshold == 0.25  # the table's default, not the dataclass's
    assert _build({**base, "toy_threshold": 1}).toy_threshold == 1.0  # built as a float

    schema = profile_json_schema(TOY_TABLE)
    assert schema["properties"]["toy_threshold"] == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 1.0,
        "description": TOY_FIELD.doc,
        "default": 0.25,
    }
    assert (
        "| `toy_threshold` | number in [0, 1] | `0.25` | any | A toy score threshold, in [0, 1]. |"
        in field_reference_markdown(TOY_TABLE)
    )


def test_a_toy_field_can_belong_to_a_toy_backend(toy_backend):
    trt = {"name": "toy", "backend": "tensorrt", "precision": "fp16", "model": {"yaml": "yolo11n.yaml"}}
    assert _check({**trt, "toy_threshold": 0.25}) == []  # the default is fine anywhere
    assert [str(e) for e in _check({**trt, "toy_threshold": 0.5})] == [
        "toy.yaml: toy_threshold: only applies to backend toyvino (this profile's backend is tensorrt); remove it"
    ]
    assert _check({**trt, "backend": "toyvino", "toy_threshold": 0.5}) == []
    assert "| `toy_threshold` | number in [0, 1] | `0.25` | toyvino |" in field_reference_markdown(TOY_TABLE)


@pytest.fixture
def toy_gpu_backend(toy_backend: BackendEntry) -> Iterator[BackendEntry]:
    """``toycuda``: a GPU backend (``needs_gpu``) whose artifacts are not byte-reproducible, next to ``toyvino``."""
    entry = register_backend(
        dataclasses.replace(
            toy_backend, name="toycuda", title="Toy GPU plan (test)", flavour="trt", precisions=("fp32", "fp16"),
            only_fields=(), needs_gpu=True, reproducible=False, triton=None,
        )
    )  # fmt: skip
    yield entry
    unregister_backend("toycuda")


def _gpu(name: str) -> GpuInfo:
    return GpuInfo(0, name, "GPU-0", "8.6", 24576, "550.54")


def test_a_catalogued_gpu_backend_gets_a_gpu_build_key_gpu_nodes_and_gpu_containers(toy_gpu_backend, tmp_path):
    gpu_profile = make_profile(name="toy-gpu", backend=Backend("toycuda"))
    cpu_profile = make_profile(name="toy-cpu", backend=Backend("toyvino"))

    def key(profile: Profile, gpu: str) -> tuple[str, object]:
        built = build_key_for(profile, tmp_path, "img", gpus=lambda: [_gpu(gpu)], environment_id="env")
        return built.key, built.inputs["gpu"]

    # the build key records the GPU model for the GPU backend (another GPU: another key), never for the CPU one
    assert key(gpu_profile, "NVIDIA A10") == (key(gpu_profile, "NVIDIA A10")[0], "NVIDIA A10 (cc 8.6)")
    assert key(gpu_profile, "NVIDIA A10")[0] != key(gpu_profile, "NVIDIA L4")[0]
    assert key(cpu_profile, "NVIDIA A10") == (key(cpu_profile, "NVIDIA L4")[0], "")
    # the farm computes the same key with each node's GPU
    node_key = _key_function(gpu_profile, {"gpu_identity": "NVIDIA A10 (cc 8.6)"}, tmp_path)
    assert node_key("env") == key(gpu_profile, "NVIDIA A10")[0]
    assert (
        _key_function(cpu_profile, {"gpu_identity": "NVIDIA A10 (cc 8.6)"}, tmp_path)("env")
        == key(cpu_profile, "NVIDIA L4")[0]
    )

    nodes = [
        FarmNode("gpu-node", "10.0.0.1", {"CPU": 4.0, "GPU": 1.0, ACCELERATOR_PREFIX + "A10G": 1.0}),
        FarmNode("cpu-node", "10.0.0.2", {"CPU": 4.0}),
    ]
    gpu_route, cpu_route = route_profile(gpu_profile, nodes), route_profile(cpu_profile, nodes)
    assert not isinstance(gpu_route, str) and not isinstance(cpu_route, str)
    assert (gpu_route.num_gpus, gpu_route.candidates) == (1, ("gpu-node",))
    assert (cpu_route.num_gpus, cpu_route.candidates) == (0, ("gpu-node", "cpu-node"))
    assert route_profile(gpu_profile, nodes[1:]) == "toycuda profile 'toy-gpu' needs a GPU, but no node offers one"

    assert container_spec("toy-gpu", "toycuda", settings()).device_requests != ()


def test_a_gpu_backend_that_is_not_reproducible_changes_how_drift_judges_its_bytes(toy_gpu_backend):
    def pair(backend: str) -> tuple[dict, dict]:
        old, new = synthetic_manifest("toy", n=1, backend=backend), synthetic_manifest("toy", n=2, backend=backend)
        for manifest, digest in ((old, "1"), (new, "2")):
            manifest["artifacts"] = [{"path": "model.plan", "kind": "model", "size": 1, "sha256": digest * 64}]
        return old, new

    def artifact_verdicts(backend: str) -> list[tuple[Severity, str]]:
        old, new = pair(backend)
        report = compare_manifests(read_manifest(old), read_manifest(new))
        return [(c.severity, c.reason) for c in report.changes if c.area == "artifact"]

    assert artifact_verdicts("toycuda") == [
        (Severity.INFO, "backend toycuda does not promise identical artifact bytes")
    ]
    assert artifact_verdicts("toyvino") == [
        (Severity.FAIL, "not reproducible: bytes changed with identical inputs and environment")
    ]


def _names_a_backend(tree: ast.AST, names: set[str], members: set[str]) -> list[str]:
    """``Backend.<MEMBER>`` and comparisons with a backend's name, as "line: what"."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Backend":
            if node.attr in members:
                found.append(f"{node.lineno}: Backend.{node.attr}")
        elif isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                elements = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                found += [
                    f"{node.lineno}: compares with {e.value!r}"
                    for e in elements
                    if isinstance(e, ast.Constant) and e.value in names
                ]
    return found


def test_no_module_outside_the_catalogue_and_a_backends_package_names_a_backend():
    """A new backend is its package and a catalogue entry: no other module branches on a backend's name (a GPU fact
    is ``needs_gpu``, a byte-reproducibility fact ``reproducible``, a profile rule ``profile_check``)."""
    names, members = set(backend_names()), {member.name for member in Backend}
    package = REPO / "builder"
    own = {package / "backends" / "catalog.py"}
    for name in names:
        own |= {package / "backends" / f"{name}.py", *(package / "backends" / name).rglob("*.py")}
    offenders = {
        str(path.relative_to(REPO)): found
        for path in sorted(package.rglob("*.py"))
        if path not in own and (found := _names_a_backend(ast.parse(path.read_text()), names, members))
    }
    assert offenders == {}


def test_the_backend_rule_sees_what_it_forbids():
    code = 'if profile.backend is Backend.TENSORRT or backend == "onnxruntime" or b in ("tensorrt", "x"): pass'
    assert sorted(_names_a_backend(ast.parse(code), {"tensorrt", "onnxruntime"}, {"TENSORRT"})) == [
        "1: Backend.TENSORRT",
        "1: compares with 'onnxruntime'",
        "1: compares with 'tensorrt'",
    ]
