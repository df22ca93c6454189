"""The provenance statement (in-toto / SLSA v1) and the CycloneDX SBOM every bundle carries."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from builder.errors import ArtifactError
from builder.host.image import ImageOptions, deps_digest
from builder.ops.bundle import make_bundle
from builder.ops.provenance import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    dependency_digests,
    provenance_bytes,
    provenance_problems,
    provenance_statement,
)
from builder.ops.sbom import REQUIREMENTS, image_flavour, parse_lock, sbom_bytes, sbom_document
from builder.record.manifest_read import read_manifest
from tests.ops.fakes import synthetic_manifest, write_build
from tests.support import unpack_bundle

SCHEMAS = Path(__file__).parents[1] / "data" / "cyclonedx"


def _manifest(backend: str = "onnxruntime", identity: str | None = None) -> dict:
    manifest = synthetic_manifest("tiny", n=1, backend=backend)
    manifest["artifacts"] = [
        {"kind": "model", "path": "model.ort.onnx", "size": 3, "sha256": "e" * 64},
        {"kind": "metadata", "path": "metadata.json", "size": 2, "sha256": "f" * 64},
    ]
    manifest["key_inputs"] = {"builder_source": "9" * 64, "builder_version": "0.1.0"}
    manifest["environment"]["identity"] = identity or f"image:deps={'1' * 64};base=sha256:{'2' * 64}"
    return manifest


def test_the_statement_records_each_fact_from_the_manifest():
    manifest = _manifest()
    statement = provenance_statement(read_manifest(manifest))
    assert (statement["_type"], statement["predicateType"]) == (STATEMENT_TYPE, PREDICATE_TYPE)
    assert statement["subject"] == [
        {"name": a["path"], "digest": {"sha256": a["sha256"]}} for a in manifest["artifacts"]
    ]
    definition, run = statement["predicate"]["buildDefinition"], statement["predicate"]["runDetails"]
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert deps["weights"]["digest"]["sha256"] == manifest["inputs"]["weights"]["sha256"]
    assert deps["weights"]["uri"] == manifest["inputs"]["weights"]["identity"]
    assert deps["builder-source"]["digest"]["sha256"] == manifest["key_inputs"]["builder_source"]
    assert deps["dependency-lock"]["digest"]["sha256"] == "1" * 64
    assert deps["dependency-lock"]["annotations"]["packages"] == manifest["environment"]["packages"]
    assert deps["base-image"] == {"name": "base-image", "uri": manifest["environment"]["image"]["base"],
                                  "digest": {"sha256": "2" * 64}}  # fmt: skip
    assert definition["externalParameters"]["profile"]["sha256"] == manifest["profile"]["sha256"]
    host = definition["internalParameters"]["host"]
    assert {k: host[k] for k in ("machine", "python")} == {k: manifest["environment"][k] for k in ("machine", "python")}
    assert host["gpus"] == [  # each GPU as the typed reader holds it: name, compute capability, driver
        {k: gpu[k] for k in ("name", "compute_capability", "driver_version")} for gpu in manifest["environment"]["gpus"]
    ]
    assert run["builder"]["version"]["engine-foundry"] == manifest["builder_version"]
    assert run["metadata"] == {"invocationId": manifest["build_id"], "startedOn": manifest["created_at"],
                               "finishedOn": manifest["finished_at"]}  # fmt: skip
    same = provenance_bytes(read_manifest(copy.deepcopy(manifest)))
    assert same == provenance_bytes(read_manifest(manifest))  # deterministic


def test_the_gpu_build_node_facts_are_recorded():
    manifest = _manifest("tensorrt")
    host = provenance_statement(read_manifest(manifest))["predicate"]["buildDefinition"]["internalParameters"]["host"]
    assert host["gpus"][0]["name"] == "NVIDIA A10" and host["driver"] == manifest["environment"]["driver"]


@pytest.mark.parametrize(
    ("identity", "deps", "base"),
    [
        (f"image:deps={'1' * 64};base=sha256:{'2' * 64}", "1" * 64, f"sha256:{'2' * 64}"),
        ("image:deps=abc;base=", "abc", None),
        (f"image:sha256:{'3' * 64}", None, None),  # an image from before the dependency labels
        ("bare:0123456789abcdef", None, None),  # built outside an image
        (None, None, None),
        ("", None, None),
    ],
)
def test_dependency_digests_come_from_the_environment_identity(identity, deps, base):
    assert dependency_digests(identity) == {"deps": deps, "base": base}


def test_a_bare_build_records_no_lock_or_base_digest_rather_than_inventing_one():
    statement = provenance_statement(read_manifest(_manifest(identity="bare:0123")))
    deps = {d["name"]: d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps["dependency-lock"]["digest"] is None and deps["base-image"]["digest"] is None


def test_problems_name_the_field_and_both_values(tmp_path):
    manifest = _manifest()
    path = tmp_path / "p.json"
    path.write_bytes(provenance_bytes(read_manifest(manifest)))
    assert provenance_problems(path, read_manifest(manifest)) == []
    other = copy.deepcopy(manifest)
    other["inputs"]["weights"]["sha256"] = "0" * 64
    assert provenance_problems(path, read_manifest(other)) == [
        f'{path}: predicate.buildDefinition.resolvedDependencies[weights].digest.sha256 is "{"a" * 64}" '
        f'but the manifest says "{"0" * 64}"'
    ]
    path.write_text("{")
    assert "unreadable" in provenance_problems(path, read_manifest(manifest))[0]


def _validator() -> jsonschema.Draft7Validator:
    resources = [
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in sorted(SCHEMAS.glob("*.schema.json"))
    ]
    registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / "bom-1.6.SNAPSHOT.schema.json").read_text())
    registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    for name, resource in resources:  # relative $refs resolve against the bom schema's $id
        registry = registry.with_resource(f"http://cyclonedx.org/schema/{name}", resource)
    return jsonschema.Draft7Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(("backend", "tensorrt", "flavour"), [("onnxruntime", None, "cpu"), ("tensorrt", "8.6", "trt"),
                                                              ("tensorrt", "10", "trt10")])  # fmt: skip
def test_the_sbom_is_valid_cyclonedx_1_6_and_lists_every_locked_package(backend, tensorrt, flavour):
    manifest = _manifest(backend)
    if tensorrt:
        manifest["profile"]["resolved"]["tensorrt"] = tensorrt
    assert image_flavour(read_manifest(manifest).profile.resolved) == flavour
    document = json.loads(sbom_bytes(read_manifest(manifest)))
    errors = sorted(_validator().iter_errors(document), key=str)
    assert not errors, errors[0]
    lock = (REQUIREMENTS / f"{flavour}.txt").read_text()
    locked = parse_lock(lock)
    assert len(locked) == lock.count("==") and len(locked) > 30
    assert [(c["name"], c["version"], [h["content"] for h in c["hashes"]]) for c in document["components"]] == [
        (name, version, hashes) for name, version, hashes in locked
    ]
    assert all(
        c["hashes"] and c["purl"] == f"pkg:pypi/{c['name'].lower()}@{c['version']}" for c in document["components"]
    )
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["engine-foundry:lock"] == f"requirements/{flavour}.txt"
    assert properties["engine-foundry:lock-sha256"] == hashlib.sha256(lock.encode()).hexdigest()


@pytest.mark.parametrize(
    ("deps", "says"),
    [
        (lambda: deps_digest(REQUIREMENTS / "cpu.txt", ImageOptions(flavour="cpu")), "true"),
        (lambda: deps_digest(REQUIREMENTS / "cpu.txt", ImageOptions(flavour="cpu", ultralytics="fork==1")), "false"),
        (lambda: None, "unknown (built outside an image)"),
    ],
)
def test_the_sbom_says_whether_the_lock_is_what_the_build_image_installed(deps, says):
    digest = deps()
    identity = f"image:deps={digest};base=sha256:{'2' * 64}" if digest else "bare:0123"
    document = sbom_document(read_manifest(_manifest(identity=identity)))
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["engine-foundry:lock-is-build-dependency-set"] == says


def test_a_checkout_without_the_lock_is_one_error(tmp_path):
    with pytest.raises(ArtifactError, match=r"cpu\.txt: the cpu image's lock file is unreadable"):
        sbom_document(read_manifest(_manifest()), tmp_path)


def test_every_bundle_carries_both_and_lists_them_in_sha256sums(tmp_path):
    build = write_build(tmp_path / "artifacts", synthetic_manifest("tiny", n=1))
    top = unpack_bundle(make_bundle(build, tmp_path / "b.tar.gz").path, tmp_path / "out")
    manifest = read_manifest(top / "build/manifest.json")
    assert (top / "provenance.intoto.json").read_bytes() == provenance_bytes(manifest)
    assert (top / "sbom.cdx.json").read_bytes() == sbom_bytes(manifest)
    sums = (top / "SHA256SUMS").read_text()
    assert "  provenance.intoto.json\n" in sums and "  sbom.cdx.json\n" in sums
