"""Fleet bundles and ``verify --select``: selection as a pure function of recorded host facts and manifests.

Host GPU names are the ones ``nvidia-smi --query-gpu=name`` prints: the H100 and H200 lines are recorded
(tests/backends/tensorrt/data/*-nvidia-smi-query.csv); A10, A10G, T4, L4, H100 PCIe, RTX 4090 and V100 are the names
the target tests (tests/backends/tensorrt/test_trt_target.py) and doctor tests already use, compute capabilities
from NVIDIA's CUDA GPUs table.
"""

from __future__ import annotations

import copy
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from builder.cli import main
from builder.common.hashing import format_sums, sha256_file
from builder.errors import ArtifactError, UsageError
from builder.machine.gpu import parse_nvidia_smi_csv
from builder.ops.fleet_bundle import find_fleet_builds, make_fleet_bundle, read_fleet_index
from builder.ops.fleet_verify import check_extract_target, verify_select
from builder.ops.select import CPU, EXACT, FAMILY, PORTABLE, SAME_CC, HostRecord, candidate_from_manifest, select_build
from builder.record.manifest_read import read_manifest
from builder.verify import compat
from builder.verify.artifact import verify_path
from tests.ops.fakes import synthetic_manifest, write_build
from tests.support import REPO, unpack_bundle

TRT_DATA = REPO / "tests/backends/tensorrt/data"
DRIVER = "580.159.04"


def _recorded(name: str) -> dict[str, Any]:
    return parse_nvidia_smi_csv((TRT_DATA / name).read_text())[0].to_dict()


def _gpu(name: str, cc: str, driver: str = DRIVER, index: int = 0) -> dict[str, Any]:
    return {"index": index, "name": name, "uuid": f"GPU-{index}", "compute_capability": cc,
            "memory_total_mib": 1, "driver_version": driver}  # fmt: skip


H100_SXM = _recorded("h100-nvidia-smi-query.csv")  # NVIDIA H100 80GB HBM3, 9.0
H200 = _recorded("h200-nvidia-smi-query.csv")  # NVIDIA H200, 9.0
A10, A10G, T4 = _gpu("NVIDIA A10", "8.6"), _gpu("NVIDIA A10G", "8.6"), _gpu("Tesla T4", "7.5")
L4, RTX4090 = _gpu("NVIDIA L4", "8.9"), _gpu("NVIDIA GeForce RTX 4090", "8.9")
H100_PCIE, V100 = _gpu("NVIDIA H100 PCIe", "9.0"), _gpu("Tesla V100-SXM2-16GB", "7.0")


def gpu_manifest(
    profile: str, n: int, built_on: dict[str, Any], target: dict[str, Any] | None, **settings: Any
) -> dict:
    """A succeeded TensorRT manifest of a plan built on ``built_on`` (TensorRT 10.3.0, CUDA 12.6, x86_64)."""
    manifest = synthetic_manifest(profile, n, backend="tensorrt")
    trt = settings.pop("tensorrt", "10.3.0")
    env = manifest["environment"]
    env.update(gpus=[built_on], tensorrt=trt, cuda="12.6.3", driver=built_on["driver_version"], machine="x86_64")
    env["packages"]["tensorrt"] = trt
    manifest["profile"]["resolved"].update(target=target, **settings)
    return manifest


def fleet_manifests() -> list[dict[str, Any]]:
    """a10-fp16, t4-fp16, h100-fp16 (their shipped targets), an ampere_plus plan, cpu-fp32: in that order."""
    return [
        gpu_manifest("a10-fp16", 1, A10, {"gpu": ["A10", "A10G"], "compute_capability": "8.6"}),
        gpu_manifest("t4-fp16", 2, T4, {"gpu": "T4", "compute_capability": "7.5"}),
        gpu_manifest("h100-fp16", 3, H100_SXM, {"gpu": "H100", "compute_capability": "9.0"}),
        gpu_manifest(
            "a100-fp16-portable", 4, _gpu("NVIDIA A100-SXM4-80GB", "8.0"), None, hardware_compatibility="ampere_plus"
        ),  # fmt: skip
        synthetic_manifest("cpu-fp32", 5),
    ]


def host(*gpus: dict[str, Any], trt: str | None = "10.3.0", ort: str | None = "1.20.1", machine: str = "x86_64"):
    return HostRecord(tuple(gpus), trt if gpus else None, ort, machine)


# host -> (chosen profile, match rank); every recorded GPU name against the same fleet
CASES = {
    "h100-sxm-exact": (host(H100_SXM), "h100-fp16", EXACT),
    "h100-pcie-same-family": (host(H100_PCIE), "h100-fp16", FAMILY),
    "h200-same-compute-capability": (host(H200), "h100-fp16", SAME_CC),
    "a10-exact": (host(A10), "a10-fp16", EXACT),
    "a10g-same-family": (host(A10G), "a10-fp16", FAMILY),
    "t4-exact": (host(T4), "t4-fp16", EXACT),
    "l4-portable-plan": (host(L4), "a100-fp16-portable", PORTABLE),
    "rtx4090-portable-plan": (host(RTX4090), "a100-fp16-portable", PORTABLE),
    "v100-cpu": (host(V100), "cpu-fp32", CPU),
    "no-gpu-cpu": (host(), "cpu-fp32", CPU),
    "tensorrt-not-installed-still-picks-by-gpu": (host(T4, trt=None), "t4-fp16", EXACT),
    "other-tensorrt-not-version-compatible-cpu": (host(H100_SXM, trt="10.8.0"), "cpu-fp32", CPU),
    "old-driver-cpu": (host(_gpu("NVIDIA A10", "8.6", driver="535.104.05")), "cpu-fp32", CPU),
    "arm-host-cpu": (host(H100_SXM, machine="aarch64"), "cpu-fp32", CPU),
    "mixed-host-best-gpu": (host(T4, _gpu("NVIDIA H100 80GB HBM3", "9.0", index=1)), "t4-fp16", EXACT),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_selection_on_recorded_hosts(case):
    facts, profile, rank = CASES[case]
    selection = select_build(facts, [candidate_from_manifest(read_manifest(m)) for m in fleet_manifests()])
    assert selection.chosen is not None, [r.reason for r in selection.ratings]
    assert (selection.chosen.candidate.profile, selection.chosen.rank[0]) == (profile, rank), selection.chosen.reason
    assert len(selection.ratings) == 5 and selection.chosen in selection.ratings
    # a GPU host served only by the CPU build is told which GPU profile to build; others are not
    assert (selection.wanted is not None) == (rank == CPU and bool(facts.gpus))


def test_reasons_name_both_sides():
    selection = select_build(host(A10G), [candidate_from_manifest(read_manifest(m)) for m in fleet_manifests()])
    reasons = {r.candidate.profile: r.reason for r in selection.ratings}
    assert reasons["a10-fp16"] == (
        "same GPU family: built on NVIDIA A10 (compute capability 8.6); this host's GPU 0 is NVIDIA A10G "
        "(compute capability 8.6)"
    )
    assert reasons["t4-fp16"].startswith("does not fit: engine was built for compute capability 7.5 (Tesla T4)")
    assert reasons["cpu-fp32"].startswith("CPU: portable ONNX Runtime model")


def test_ties_go_to_the_build_listed_first_and_own_tensorrt_before_version_compatible():
    twin = gpu_manifest("h100-int8", 6, H100_SXM, {"gpu": "H100"})
    manifests = fleet_manifests()
    for order in ([manifests[2], twin], [twin, manifests[2]]):
        chosen = select_build(host(H100_SXM), [candidate_from_manifest(read_manifest(m)) for m in order]).chosen
        assert chosen is not None and chosen.candidate.profile == order[0]["profile"]["name"]
    # host TensorRT 10.8: the plan of 10.8 beats a version-compatible 10.3 plan listed before it
    compatible = gpu_manifest("h100-vc", 7, H100_SXM, None, version_compatible=True)
    own = gpu_manifest("h100-108", 8, H100_SXM, None, tensorrt="10.8.0")
    candidates = [candidate_from_manifest(read_manifest(m)) for m in (compatible, own)]
    selection = select_build(host(H100_SXM, trt="10.8.0"), candidates)
    assert selection.chosen is not None and selection.chosen.candidate.profile == "h100-108"
    assert "version-compatible plan of TensorRT 10.3.0 on TensorRT 10.8.0" in selection.ratings[0].reason


@pytest.mark.parametrize(
    ("facts", "manifests", "wanted"),
    [
        (host(L4), [0, 1], 'target: {gpu: "L4", compute_capability: "8.9"}`, `tensorrt: "10"`'),
        (host(V100, trt=None), [2], 'target: {gpu: "V100-SXM2-16GB", compute_capability: "7.0"}` (e.g.'),
        (host(), [0, 2], "a CPU profile (`backend: onnxruntime`, e.g. cpu-fp32)"),
        (host(ort=None), [1], "and ONNX Runtime on this host"),
        (host(ort="1.15.0"), [4], "built with onnxruntime 1.15.0 or older, or onnxruntime 1.16.3 or newer"),
    ],
    ids=["l4", "v100", "cpu-host-gpu-fleet", "no-onnxruntime", "old-onnxruntime"],
)
def test_none_fits_names_the_profile_to_build(facts, manifests, wanted):
    fleet = fleet_manifests()
    selection = select_build(facts, [candidate_from_manifest(read_manifest(fleet[i])) for i in manifests])
    assert selection.chosen is None and all(not r.fits for r in selection.ratings)
    assert selection.wanted is not None and wanted in selection.wanted


# ---- the bundle and the command -------------------------------------------------------------------------------


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    for manifest in fleet_manifests():
        write_build(root, manifest)
    return root


PROFILES = ["a10-fp16", "t4-fp16", "h100-fp16", "a100-fp16-portable", "cpu-fp32"]


@pytest.fixture
def fleet(artifacts: Path, tmp_path: Path) -> Path:
    return make_fleet_bundle(find_fleet_builds(artifacts, PROFILES), tmp_path / "fleet.tar.gz").path


def _use_host(monkeypatch: pytest.MonkeyPatch, facts: HostRecord) -> None:
    """This process sees ``facts``: selection and the chosen build's compat checks both read them."""
    monkeypatch.setattr(compat, "current_host", lambda **_: facts.facts())
    monkeypatch.setattr("builder.ops.select.platform.machine", lambda: facts.machine)


def test_fleet_bundle_layout_is_deterministic_and_complete(artifacts, tmp_path):
    builds = find_fleet_builds(artifacts, PROFILES)
    first = make_fleet_bundle(builds, tmp_path / "a.tar.gz")
    second = make_fleet_bundle(builds, tmp_path / "b.tar.gz")
    assert first.path.read_bytes() == second.path.read_bytes() and first.top.startswith("fleet-")
    for profile in PROFILES:
        model = "model.ort.onnx" if profile.startswith("cpu") else "model.plan"
        served = "model.onnx" if profile.startswith("cpu") else "model.plan"
        for rel in ("OPS.md", "SHA256SUMS", "build/SHA256SUMS", "build/manifest.json", "build/metadata.json",
                    "build/model.onnx", f"build/{model}", f"triton/{profile}/config.pbtxt",
                    f"triton/{profile}/1/{served}", "provenance.intoto.json", "sbom.cdx.json"):  # fmt: skip
            assert f"builds/{profile}/{rel}" in first.files, rel
    assert {"OPS.md", "FLEET.json", "SHA256SUMS"} <= set(first.files)
    assert len(first.files) == 3 + 11 * len(PROFILES)
    top = unpack_bundle(first.path, tmp_path / "out")
    assert [e.profile for e in read_fleet_index(top)] == PROFILES
    ops = (top / "OPS.md").read_text()
    assert "verify --select" in ops and all(f"`{p}`" in ops for p in PROFILES) and "NVIDIA A10 or A10G" in ops
    assert "--trusted-key <the signer's public key>" in ops  # the three commands ops need (issue 21)
    assert f"`.venv/bin/engine-foundry reproduce {top.name}/builds/<profile>`" in ops
    with tarfile.open(first.path) as tar:
        assert all(m.isfile() or m.isdir() for m in tar.getmembers())
    # each build folder is a single-build bundle that plain `verify` accepts
    report = verify_path(top / "builds/cpu-fp32", run_inference=False)
    assert report.ok, report.checks


def test_missing_builds_are_all_named_with_their_command_and_nothing_is_written(
    artifacts, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("ENGINE_FOUNDRY_PROFILES", str(REPO / "profiles"))
    out = tmp_path / "f.tar.gz"
    code = main(["bundle", "--profiles", "cpu-fp32", "l4-fp16", "b200-fp16", "--artifacts", str(artifacts),
                 "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 5 and not out.exists() and not list(tmp_path.glob(".f.tar.gz*"))
    assert "no latest build of profile(s) 'l4-fp16', 'b200-fp16'; nothing was bundled" in err
    assert "`make engine PROFILE=l4-fp16` (it does not load from " in err and err.count("\nTIP ") == 1
    assert (
        "`make engine PROFILE=b200-fp16` on a host with NVIDIA B200, compute capability 10.0 "
        "(or `make farm PROFILES=b200-fp16`); or leave them out of PROFILES" in err
    )
    with pytest.raises(UsageError, match="cpu-fp32 named twice"):
        find_fleet_builds(artifacts, ["cpu-fp32", "cpu-fp32"])


def test_damaged_build_is_not_bundled(artifacts, tmp_path):
    (artifacts / "t4-fp16" / "latest" / "model.plan").write_bytes(b"changed")
    with pytest.raises(ArtifactError, match=r"model.plan: changed"):
        make_fleet_bundle(find_fleet_builds(artifacts, PROFILES), tmp_path / "f.tar.gz")
    assert not (tmp_path / "f.tar.gz").exists()


@pytest.mark.parametrize(
    ("facts", "profile", "code"),
    [
        (host(T4), "t4-fp16", 0),
        (host(A10G), "a10-fp16", 0),
        (host(), "cpu-fp32", 0),
        (host(L4), "a100-fp16-portable", 0),
    ],
    ids=["t4", "a10g", "cpu", "l4"],
)
def test_select_command_on_archive_and_unpacked_folder(fleet, tmp_path, monkeypatch, capsys, facts, profile, code):
    _use_host(monkeypatch, facts)
    top = unpack_bundle(fleet, tmp_path / "unpacked")
    for target in (fleet, top):
        assert main(["verify", "--select", str(target), "--no-run"]) == code
        out = capsys.readouterr().out
        chosen = [line for line in out.splitlines() if line.startswith("PASS select: chose ")]
        assert len(chosen) == 1 and chosen[0].startswith(f"PASS select: chose {profile} (build "), out
        assert out.count("SKIP select: passed over ") == 4 and out.rstrip().endswith("GO: " + (
            str(fleet) if target == fleet else str(top / "builds" / profile)))  # fmt: skip


def test_none_fits_exits_5_naming_the_target(artifacts, tmp_path, monkeypatch, capsys):
    gpu_only = make_fleet_bundle(find_fleet_builds(artifacts, PROFILES[:3]), tmp_path / "gpu.tar.gz").path
    _use_host(monkeypatch, host(L4))
    assert main(["verify", "--select", str(gpu_only), "--no-run"]) == 5
    captured = capsys.readouterr()
    assert captured.out.count("SKIP select: passed over ") == 3
    assert "none of its 3 build(s) fits this host" in captured.err
    assert 'TIP build a TensorRT profile with `target: {gpu: "L4", compute_capability: "8.9"}`' in captured.err


def test_extract_writes_the_chosen_build_and_refuses_a_non_empty_folder(fleet, tmp_path, monkeypatch, capsys):
    _use_host(monkeypatch, host(T4))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["verify", "--select", str(fleet), "--extract", str(busy), "--no-run"]) == 2
    assert "--extract" in capsys.readouterr().err and sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    assert main(["verify", str(fleet), "--extract", str(tmp_path / "x")]) == 2  # --extract needs --select
    empty = tmp_path / "deploy"
    empty.mkdir()
    for dest in (empty, tmp_path / "new" / "deploy"):
        assert main(["verify", "--select", str(fleet), "--extract", str(dest), "--no-run"]) == 0
        assert (dest / "build/model.plan").is_file() and (dest / "triton/t4-fp16/config.pbtxt").is_file()
        assert not list(dest.parent.glob(".deploy.*"))
        assert main(["verify", str(dest), "--no-run"]) == 0  # ready to deploy: plain verify says GO
    capsys.readouterr()


def test_no_go_build_is_not_extracted(fleet, tmp_path, monkeypatch):
    _use_host(monkeypatch, host(T4))
    top = unpack_bundle(fleet, tmp_path / "unpacked")
    manifest_path = top / "builds/t4-fp16/build/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"] = "failed"
    manifest_path.write_text(json.dumps(manifest))  # the fleet's SHA256SUMS recomputed, the build's left as it was
    files = sorted(p for p in top.rglob("*") if p.is_file() and p != top / "SHA256SUMS")
    (top / "SHA256SUMS").write_text(format_sums((p.relative_to(top).as_posix(), sha256_file(p)) for p in files))
    report, selection = verify_select(top, host(T4), run_inference=False, extract=tmp_path / "deploy")
    assert selection.chosen is not None and selection.chosen.candidate.profile == "t4-fp16"
    assert report.verdict == "NO-GO" and not (tmp_path / "deploy").exists()
    assert [c.name for c in report.checks[:2]] == ["signature", "fleet-checksums"]  # no key: reported, not checked
    assert report.checks[1].status == "pass"
    assert [c.name for c in report.checks if c.status == "fail"][0] == "bundle-checksums"


def test_tampered_fleet_is_no_go_before_selection(fleet, tmp_path, monkeypatch, capsys):
    _use_host(monkeypatch, host(T4))
    top = unpack_bundle(fleet, tmp_path / "unpacked")
    index = json.loads((top / "FLEET.json").read_text())
    index["builds"] = copy.deepcopy(index["builds"][::-1])
    (top / "FLEET.json").write_text(json.dumps(index))
    assert main(["verify", "--select", str(top), "--no-run"]) == 5
    assert "FLEET.json: changed (sha256 differs)" in capsys.readouterr().err


def test_single_build_bundle_is_a_fleet_of_one(artifacts, tmp_path, monkeypatch, capsys):
    from builder.ops.bundle import make_bundle

    bundle = make_bundle(artifacts / "cpu-fp32" / "latest", tmp_path / "one.tar.gz").path
    _use_host(monkeypatch, host())
    assert main(["verify", "--select", str(bundle), "--no-run"]) == 0
    assert "PASS select: chose cpu-fp32" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["file", "non-empty"])
def test_extract_target_checked_first(tmp_path, kind):
    target = tmp_path / "t"
    if kind == "file":
        target.write_text("x")
    else:
        target.mkdir()
        (target / "a").write_text("x")
    with pytest.raises(UsageError, match="nothing was written"):
        check_extract_target(target)
    assert sha256_file(target if kind == "file" else target / "a")


def test_equal_builds_name_the_tie_and_json_carries_the_choice(tmp_path, monkeypatch, capsys):
    root = tmp_path / "artifacts"
    for n, name in enumerate(("cpu-int8", "cpu-fp32"), start=1):
        write_build(root, synthetic_manifest(name, n))
    fleet = make_fleet_bundle(find_fleet_builds(root, ["cpu-int8", "cpu-fp32"]), tmp_path / "cpu.tar.gz").path
    _use_host(monkeypatch, host())
    assert main(["verify", "--select", str(fleet), "--no-run", "--json"]) == 0
    checks = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "select"]
    assert [c["status"] for c in checks] == ["pass", "skip"]
    assert checks[0]["message"].startswith("chose cpu-int8 (build ")
    assert "fits as well, listed after the chosen build: CPU" in checks[1]["message"]


def _farm_record(path: Path, results: list[dict[str, Any]]) -> Path:
    """A farm run record as builder/farm/run.py writes it (``results``: FarmResult fields)."""
    path.write_text(json.dumps({"created_at": "20261207T000000Z", "address": "auto", "results": results, "nodes": {}}))
    return path


def test_fleet_of_a_farm_run(artifacts, tmp_path, capsys):
    built = [
        {"profile": p, "status": s, "node": "n1", "label": "A10", "seconds": 1.0, "message": "",
         "build_dir": str((artifacts / p / "latest").resolve())}
        for p, s in (("a10-fp16", "built"), ("t4-fp16", "already published"), ("cpu-fp32", "up to date"))
    ]  # fmt: skip
    record = _farm_record(tmp_path / "run.json", built)
    out = tmp_path / "farm.tar.gz"
    assert main(["bundle", "--farm-run", str(record), "--output", str(out)]) == 0
    assert "BUNDLED fleet of 3 build(s)" in capsys.readouterr().out
    top = unpack_bundle(out, tmp_path / "unpacked")
    assert [e.profile for e in read_fleet_index(top)] == ["a10-fp16", "t4-fp16", "cpu-fp32"]
    failed = {"profile": "h100-fp16", "status": "failed", "message": "build: out of memory", "build_dir": ""}
    bad = _farm_record(tmp_path / "bad.json", [*built, failed])
    assert main(["bundle", "--farm-run", str(bad), "--output", str(tmp_path / "no.tar.gz")]) == 5
    err = capsys.readouterr().err
    assert "failed in that run: h100-fp16 (failed: build: out of memory); nothing was bundled" in err
    assert 'make bundle PROFILES="a10-fp16 t4-fp16 cpu-fp32"' in err and not (tmp_path / "no.tar.gz").exists()
    (tmp_path / "junk.json").write_text("[]")
    assert main(["bundle", "--farm-run", str(tmp_path / "junk.json")]) == 5
    assert "not a farm run record" in capsys.readouterr().err


def test_plain_verify_of_a_fleet_points_to_select(fleet, tmp_path, capsys):
    assert main(["verify", str(fleet), "--no-run"]) == 5
    err = capsys.readouterr().err
    assert f"{fleet}: a fleet bundle of several builds; `verify --select {fleet}` picks" in err
    assert f"TIP run `.venv/bin/engine-foundry verify --select {fleet}`" in err
    top = unpack_bundle(fleet, tmp_path / "unpacked")
    assert main(["verify", str(top), "--no-run"]) == 5
    assert f"TIP run `.venv/bin/engine-foundry verify --select {top}`" in capsys.readouterr().err
