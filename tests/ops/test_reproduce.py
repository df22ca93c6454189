"""``reproduce``: the artifact comparison, the verdicts, the refusals of inputs this host lacks (fast), and the real
tiny CPU build rebuilt byte for byte, or named where a recorded input or a shipped file changed (slow)."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from builder.common.hashing import sha256_file, sha256_text
from builder.errors import ExitCode
from builder.machine.environment import builder_source_digest
from builder.ops.reproduce import (
    ReproduceInputError,
    Shipped,
    Status,
    Verdict,
    compare_artifacts,
    host_inputs,
    judge,
    recorded,
)
from builder.profile import Backend, ModelSpec
from builder.record.buildkey import key_of_inputs
from builder.record.manifest_read import read_manifest
from tests.backends.tensorrt.trt_fakes import H100, T4
from tests.ops.fakes import build_id, synthetic_manifest
from tests.support import make_profile

A, B = "a" * 64, "b" * 64


def art(path: str, kind: str, sha256: str) -> dict[str, Any]:
    return {"path": path, "kind": kind, "sha256": sha256, "size": 1}


@pytest.mark.parametrize(
    "old, new, stable, expected",
    [
        ([art("model.onnx", "onnx", A)], [art("model.onnx", "onnx", A)], True, []),
        ([art("model.onnx", "onnx", A)], [art("model.onnx", "onnx", B)], True, [Status.DIFFERS]),
        ([art("model.ort.onnx", "model", A)], [art("model.ort.onnx", "model", B)], True, [Status.DIFFERS]),
        ([art("model.plan", "model", A)], [art("model.plan", "model", B)], False, [Status.PLAN_BYTES]),
        ([art("model.engine", "ultralytics-engine", A)], [art("model.engine", "ultralytics-engine", B)], False,
         [Status.PLAN_BYTES]),
        ([art("layers.json", "layers", A)], [art("layers.json", "layers", B)], False, [Status.LAYERS]),
        ([art("model.plan", "model", A)], [art("model.plan", "model", B)], True, [Status.DIFFERS]),  # frozen
        ([art("model.onnx", "onnx", A)], [art("model.onnx", "onnx", B)], False, [Status.DIFFERS]),  # ONNX is stable
        ([art("x.json", "metadata", A)], [], True, [Status.MISSING]),
        ([], [art("x.json", "metadata", A)], True, [Status.ADDED]),
    ],
)  # fmt: skip
def test_compare_artifacts(old: list[Any], new: list[Any], stable: bool, expected: list[Status]) -> None:
    assert [d.status for d in compare_artifacts(old, new, stable=stable)] == expected


# --- verdicts on a shipped folder against a rebuild ---------------------------------------------------------------


def manifest_for(folder: Path, files: dict[str, tuple[str, bytes]], **resolved: Any) -> dict[str, Any]:
    """Write ``files`` (path -> (kind, bytes)) into ``folder`` and return a manifest listing them."""
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for path, (kind, data) in files.items():
        (folder / path).write_bytes(data)
        artifacts.append(art(path, kind, sha256_file(folder / path)))
    profile = make_profile(**resolved)
    manifest = synthetic_manifest(profile.name)  # schema-valid: every reader reads it through read_manifest
    manifest.update(
        profile={"name": profile.name, "sha256": profile.sha256(), "resolved": profile.to_dict()},
        key_inputs={"profile_sha256": profile.sha256(), "environment_id": "bare:x", "gpu": ""},
        inputs={"weights": {"identity": profile.model.identity, "sha256": "w" * 64}},
        stages=[{"name": "verify", "status": "ok"}],
        artifacts=artifacts,
    )
    manifest["environment"].update(python="3.11.7", packages={"onnx": "1.0"})
    return {**manifest, "build_key": key_of_inputs(manifest["key_inputs"])}


def layers(*tactics: str) -> bytes:
    return json.dumps({"Layers": [{"Name": f"conv{i}", "TacticValue": t} for i, t in enumerate(tactics)]}).encode()


ORT = {"model.onnx": ("onnx", b"onnx"), "model.ort.onnx": ("model", b"ort"), "metadata.json": ("metadata", b"{}")}
TRT = {"model.onnx": ("onnx", b"onnx"), "model.plan": ("model", b"plan-1"), "layers.json": ("layers", layers("t1"))}


@pytest.mark.parametrize(
    "shipped_files, rebuilt_files, resolved, tamper, verify, verdict, named",
    [
        (ORT, ORT, {}, None, "ok", Verdict.REPRODUCED, ["model.ort.onnx: byte-identical"]),
        (ORT, {**ORT, "model.ort.onnx": ("model", b"ort2")}, {}, None, "ok", Verdict.DIFFERS,
         ["model.ort.onnx: sha256", "byte-stable"]),
        (ORT, {**ORT, "model.onnx": ("onnx", b"onnx2")}, {}, None, "ok", Verdict.DIFFERS, ["model.onnx: sha256"]),
        (ORT, ORT, {}, ("model.ort.onnx", b"evil"), "ok", Verdict.DIFFERS, ["model.ort.onnx: sha256", "changed after"]),
        (TRT, {**TRT, "model.plan": ("model", b"plan-2")}, {"backend": Backend.TENSORRT}, None, "ok",
         Verdict.EQUIVALENT, ["plan bytes differ", "passed the verify stage"]),
        (TRT, {**TRT, "model.plan": ("model", b"plan-2")}, {"backend": Backend.TENSORRT}, None, "failed",
         Verdict.DIFFERS, ["verify stage: failed"]),
        (TRT, {**TRT, "model.plan": ("model", b"plan-2"), "layers.json": ("layers", layers("t2"))},
         {"backend": Backend.TENSORRT}, None, "ok", Verdict.DIFFERS, ["layer 0 (conv0) differs in TacticValue"]),
        (TRT, {**TRT, "model.plan": ("model", b"plan-2")},
         {"backend": Backend.TENSORRT, "tensorrt": "10", "frozen": "c/x.cache"}, None, "ok", Verdict.DIFFERS,
         ["model.plan: sha256", "byte-stable"]),
    ],
)  # fmt: skip
def test_verdicts(
    tmp_path: Path,
    shipped_files: dict[str, Any],
    rebuilt_files: dict[str, Any],
    resolved: dict[str, Any],
    tamper: tuple[str, bytes] | None,
    verify: str,
    verdict: Verdict,
    named: list[str],
) -> None:
    old = manifest_for(tmp_path / "shipped", shipped_files, **resolved)
    new = manifest_for(tmp_path / "rebuilt", rebuilt_files, **resolved)
    new["stages"] = [{"name": "verify", "status": verify}]
    if verify == "failed":  # a failed stage fails the build (the schema holds the two together)
        new.update(status="failed", error={"stage": "verify", "message": "outputs differ", "hint": "h"})
    if tamper is not None:
        (tmp_path / "shipped" / tamper[0]).write_bytes(tamper[1])
    shipped = Shipped(tmp_path / "shipped", str(tmp_path / "shipped"), read_manifest(old))
    result = judge(shipped, recorded(read_manifest(old)), tmp_path / "rebuilt", read_manifest(new))
    text = "\n".join(result.lines)
    assert result.verdict is verdict and all(n in text for n in named), text
    assert result.exit_code == (ExitCode.ARTIFACT if verdict is Verdict.DIFFERS else 0)


# --- inputs this host cannot provide -----------------------------------------------------------------------------

CKPT = "weights/best.pt"


def _checkpoint_case(tmp_path: Path, content: bytes | None, elsewhere: bool = False) -> dict[str, Any]:
    models = tmp_path / "models"
    (models / "weights").mkdir(parents=True)
    (models / "data").mkdir()
    if content is not None:
        (models / CKPT).write_bytes(content)
    if elsewhere:
        (models / "old").mkdir()
        (models / "old" / "the-one.pt").write_bytes(b"the weights")
    return {"model": ModelSpec(checkpoint=CKPT)}


def _inputs(tmp_path: Path, resolved: dict[str, Any], **edits: Any) -> Any:
    manifest = manifest_for(tmp_path / "shipped", {}, **resolved)
    manifest["key_inputs"]["environment_id"] = "bare:here"
    manifest["key_inputs"]["builder_source"] = builder_source_digest()
    identity = make_profile(**resolved).model.identity
    manifest["inputs"]["weights"]["sha256"] = (
        sha256_of(b"the weights") if "model" in resolved else sha256_text(identity)
    )
    for dotted, value in edits.items():
        target = manifest
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    shipped = Shipped(tmp_path / "shipped", "shipped", read_manifest(manifest))
    seams = {
        "environment_id": lambda: "bare:here",
        "image_identity": lambda flavour: ("engine-foundry:cpu", "image:deps=1;base=2"),
        "gpus": lambda: [],
    }
    return host_inputs(recorded(read_manifest(manifest)), tmp_path / "models", shipped, tmp_path / "scratch", **seams)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "case, edits, message",
    [
        ("absent", {}, r"weights sha256 \w+… \(weights/best.pt\) not found under .*models \(.*best.pt is absent\)"),
        ("other", {}, r"weights sha256 \w+… \(weights/best.pt\) not found under .*best.pt has sha256"),
        ("yaml", {"key_inputs__environment_id": "bare:then"}, r"built bare in environment bare:then; this one is "
         r"bare:here \(.*; onnx 1.0 -> "),
        ("yaml", {"key_inputs__environment_id": "image:deps=9;base=2", "environment__image": {"ref": "ef:cpu"}},
         r"image engine-foundry:cpu has image:deps=1;base=2, the build used image:deps=9;base=2"),
        ("yaml", {"key_inputs__profile_sha256": "0" * 64}, r"reads the recorded profile as sha256"),
        ("trt", {"key_inputs__gpu": "NVIDIA A10"}, r"profile test-cpu needs a GPU \(NVIDIA A10\); this host has none"),
        ("yaml", {"inputs__weights__sha256": "9" * 64}, r"weights yaml:yolo11n.yaml:seed=0 have sha256"),
    ],
)  # fmt: skip
def test_refused_inputs_are_named(tmp_path: Path, case: str, edits: dict[str, Any], message: str) -> None:
    resolved: dict[str, Any] = {}
    if case in ("absent", "other"):
        resolved = _checkpoint_case(tmp_path, None if case == "absent" else b"other weights")
    elif case == "trt":
        resolved = {"backend": Backend.TENSORRT}
    if "model" not in resolved:
        (tmp_path / "models").mkdir()
    with pytest.raises(ReproduceInputError, match=message) as err:
        _inputs(tmp_path, resolved, **edits)
    assert err.value.exit_code == ExitCode.ENVIRONMENT and err.value.hint


def test_gpu_model_must_match(tmp_path: Path) -> None:
    from builder.machine.gpu import gpu_identity

    (tmp_path / "models").mkdir()
    manifest_edit = {"key_inputs__gpu": gpu_identity([H100])}
    with pytest.raises(ReproduceInputError, match="was built on GPU .*H100.*; this host has .*T4"):
        _inputs_with_gpus(tmp_path, [T4], **manifest_edit)
    assert _inputs_with_gpus(tmp_path, [H100], **manifest_edit).runner == "in-process"


def _inputs_with_gpus(tmp_path: Path, gpus: list[Any], **edits: Any) -> Any:
    manifest = manifest_for(tmp_path / "shipped", {}, backend=Backend.TENSORRT)
    manifest["inputs"]["weights"]["sha256"] = sha256_text(make_profile().model.identity)
    manifest["key_inputs"].update(environment_id="bare:here", gpu=edits["key_inputs__gpu"])
    view = read_manifest(manifest)
    return host_inputs(recorded(view), tmp_path / "models", Shipped(tmp_path, "s", view), tmp_path / "x",
                       environment_id=lambda: "bare:here", gpus=lambda: gpus)  # fmt: skip


def test_weights_found_by_digest_elsewhere_are_linked_at_the_checkpoint_path(tmp_path: Path) -> None:
    resolved = _checkpoint_case(tmp_path, b"other weights", elsewhere=True)
    inputs = _inputs(tmp_path, resolved)
    assert inputs.models == tmp_path / "scratch" / "models" and inputs.runner == "in-process"
    assert (inputs.models / CKPT).read_bytes() == b"the weights"
    assert (inputs.models / "data").resolve() == (tmp_path / "models" / "data").resolve()
    assert (tmp_path / "models" / CKPT).read_bytes() == b"other weights"  # the models folder is untouched


def test_an_image_build_rebuilds_in_the_image_of_the_same_identity(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    inputs = _inputs(tmp_path, {}, key_inputs__environment_id="image:deps=1;base=2")
    assert inputs.runner == "docker" and inputs.image_ref == "engine-foundry:cpu"


# --- the real tiny build (slow) ----------------------------------------------------------------------------------


def _edit_profile(manifest: dict[str, Any], **changes: Any) -> None:
    """Record another profile, consistently (resolved, its digest, the key input), as if the build had used it."""
    from builder.profile.resolved import profile_from_resolved

    resolved = copy.deepcopy(manifest["profile"]["resolved"])
    for dotted, value in changes.items():
        target = resolved
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    digest = profile_from_resolved(resolved).sha256()
    manifest["profile"].update(resolved=resolved, sha256=digest)
    manifest["key_inputs"]["profile_sha256"] = digest


@pytest.mark.parametrize(
    "change, expected",
    [
        ("none", ["REPRODUCED", "model.onnx: byte-identical", "model.ort.onnx: byte-identical"]),
        ("tampered", ["model.ort.onnx: sha256", "changed after the build", "DIFFERS"]),
        ("profile", ["model.onnx: sha256", "model.ort.onnx: sha256", "byte-stable", "DIFFERS"]),
        ("weights", ["model.onnx: sha256", "model.ort.onnx: sha256", "byte-stable", "DIFFERS"]),
        ("key", ["build key", "does not match its own key inputs", "DIFFERS"]),
    ],
)
def test_reproduce_the_real_tiny_build(published_tiny: Path, tmp_path: Path, change: str, expected: list[str]) -> None:
    from tests.faults.harness import latest_target, quiet_env, run_cli

    build = tmp_path / "build"
    shutil.copytree(latest_target(published_tiny / "artifacts" / "tiny"), build)
    manifest = json.loads((build / "manifest.json").read_text())
    if change == "tampered":
        with (build / "model.ort.onnx").open("r+b") as handle:
            handle.seek(100)
            handle.write(b"\x00\x01\x02")
    elif change == "profile":
        _edit_profile(manifest, imgsz=[96, 96])
    elif change == "weights":  # the seed of the untrained model: other weights, as the record says
        _edit_profile(manifest, **{"model.seed": 1})
        identity = "yaml:yolo11n.yaml:seed=1"
        for where in (manifest["inputs"]["weights"], manifest["key_inputs"]["weights"]):
            where.update(identity=identity, sha256=sha256_text(identity))
    if change != "key":  # a consistent record: its build key is the hash of its key inputs (builder/record/buildkey.py)
        text = json.dumps(manifest["key_inputs"], sort_keys=True, separators=(",", ":"))
        manifest["build_key"] = hashlib.sha256(text.encode()).hexdigest()
    else:
        manifest["build_key"] = "0" * 64
    (build / "manifest.json").write_text(json.dumps(manifest))
    before = {p.name: sha256_file(p) for p in build.iterdir()}
    result = run_cli(["reproduce", str(build), "--models", str(published_tiny / "models")], cwd=tmp_path,
                     env=quiet_env(tmp_path))  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == (0 if change == "none" else ExitCode.ARTIFACT), result.describe()
    assert all(text in out for text in expected), result.describe()
    assert {p.name: sha256_file(p) for p in build.iterdir()} == before  # nothing written into the shipped build


def test_reproduce_a_bundle_archive_and_its_unpacked_folder(published_tiny: Path, tmp_path: Path) -> None:
    import tarfile

    from builder.ops.bundle import make_bundle
    from tests.faults.harness import latest_target, quiet_env, run_cli

    bundle = make_bundle(latest_target(published_tiny / "artifacts" / "tiny"), tmp_path / "tiny.tar.gz")
    with tarfile.open(bundle.path) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    for target in (bundle.path, tmp_path / "unpacked" / bundle.top):
        result = run_cli(["reproduce", str(target), "--models", str(published_tiny / "models")], cwd=tmp_path,
                         env=quiet_env(tmp_path))  # fmt: skip
        assert result.returncode == 0, result.describe()
        assert f"REPRODUCED {target}" in result.stdout and "model.onnx: byte-identical" in result.stdout
        assert "model.ort.onnx: byte-identical" in result.stdout


@pytest.mark.parametrize(
    "key_edit, verdict, where",
    [
        ({"builder_source": "0" * 64}, Verdict.REPRODUCED, "notes"),  # the builder's own code: a note
        ({"gpu": "NVIDIA A10"}, Verdict.DIFFERS, "lines"),  # a build input
    ],
)
def test_a_build_key_difference(tmp_path: Path, key_edit: dict[str, str], verdict: Verdict, where: str) -> None:
    old = manifest_for(tmp_path / "shipped", ORT)
    new = manifest_for(tmp_path / "rebuilt", ORT)
    new["build_key"] = "e" * 64
    new["key_inputs"].update(key_edit)
    shipped = read_manifest(old)
    rebuilt = read_manifest(new)
    result = judge(Shipped(tmp_path / "shipped", "s", shipped), recorded(shipped), tmp_path / "rebuilt", rebuilt)
    assert result.verdict is verdict
    start = f"build key {old['build_key'][:12]}… rebuilt as eeeeeeeeeeee…"
    assert any(line.startswith(start) for line in getattr(result, where))


@pytest.mark.parametrize(
    "resolved, severity",
    [
        ({"backend": Backend.TENSORRT}, "info"),  # TensorRT does not promise identical plan bytes
        ({"backend": Backend.TENSORRT, "tensorrt": "10", "frozen": "c/x.cache"}, "fail"),  # frozen: it does
        ({}, "fail"),  # ONNX Runtime: byte-stable
    ],
)
def test_the_nightly_judges_artifacts_with_the_same_comparison(
    tmp_path: Path, resolved: dict[str, Any], severity: str
) -> None:
    from builder.ops.drift import compare_manifests

    files = {"model.plan": ("model", b"plan-1")}
    old = manifest_for(tmp_path / "old", files, **resolved)
    new = manifest_for(tmp_path / "new", {"model.plan": ("model", b"plan-2")}, **resolved)
    new["build_id"] = build_id(2)
    changes = [c for c in compare_manifests(read_manifest(old), read_manifest(new)).changes if c.area == "artifact"]
    assert [(c.key, c.severity.value) for c in changes] == [("artifact model.plan", severity)]


@pytest.mark.parametrize("committed, message", [(None, "is not under"), (b"other", "the build used 1111")])
def test_a_frozen_cache_the_build_read_must_be_here(tmp_path: Path, committed: bytes | None, message: str) -> None:
    from builder.machine.gpu import gpu_identity

    models = tmp_path / "models"
    models.mkdir()
    if committed is not None:
        (models / "c").mkdir()
        (models / "c" / "x.cache").write_bytes(committed)
    manifest = manifest_for(tmp_path / "shipped", {}, backend=Backend.TENSORRT, tensorrt="10", frozen="c/x.cache")
    manifest["inputs"]["weights"]["sha256"] = sha256_text(make_profile().model.identity)
    manifest["key_inputs"].update(environment_id="bare:here", gpu=gpu_identity([H100]))
    manifest["key_inputs"]["frozen_timing_cache_sha256"] = "1" * 64
    with pytest.raises(ReproduceInputError, match=f"frozen_timing_cache_sha256 .*{message}"):
        view = read_manifest(manifest)
        host_inputs(recorded(view), models, Shipped(tmp_path, "s", view), tmp_path / "x",
                    environment_id=lambda: "bare:here", gpus=lambda: [H100])  # fmt: skip


def test_a_shipped_build_key_that_is_not_the_hash_of_its_key_inputs_differs(tmp_path: Path) -> None:
    old = {**manifest_for(tmp_path / "shipped", ORT), "build_key": "0" * 64}
    new = manifest_for(tmp_path / "rebuilt", ORT)
    shipped = read_manifest(old)
    rebuilt = read_manifest(new)
    result = judge(Shipped(tmp_path / "shipped", "s", shipped), recorded(shipped), tmp_path / "rebuilt", rebuilt)
    assert result.verdict is Verdict.DIFFERS
    assert result.lines == ["build key 000000000000…: the shipped build key does not match its own key inputs"]
