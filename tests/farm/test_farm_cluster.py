"""The farm on a real local Ray cluster: routing, central publish, up-to-date short-circuit, refusals.

Which node built what is read from the published manifests (``launch.argv`` names the node) and from the
farm's JSON record; the node IDs are the ones the cluster fixture gave its nodes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.farm.conftest import farm_argv
from tests.farm.localcluster import LocalRayCluster

pytestmark = pytest.mark.farm


def _manifest(workdir: Path, profile: str) -> dict:
    return json.loads((workdir / "artifacts" / profile / "latest" / "manifest.json").read_text())


def _built_on(manifest: dict) -> str:
    return next(a.split("=", 1)[1] for a in manifest["launch"]["argv"] if a.startswith("--on-node="))


def _builds(workdir: Path, profile: str) -> list[str]:
    folder = workdir / "artifacts" / profile / "builds"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_profiles_built_on_the_routed_nodes_then_up_to_date(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    argv = farm_argv(
        workdir, "--profiles", "farm-a", "farm-b", "--pool", "farm-a=pool:alpha", "--pool", "farm-b=pool:beta"
    )
    first = farm_cluster.run(argv, cwd=workdir)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert _built_on(_manifest(workdir, "farm-a")) == farm_cluster.nodes["alpha"].node_id
    assert _built_on(_manifest(workdir, "farm-b")) == farm_cluster.nodes["beta"].node_id
    assert "PUBLISHED farm-a" in first.stdout and "PUBLISHED farm-b" in first.stdout
    for profile in ("farm-a", "farm-b"):  # the central copy passes `verify` (checksums, manifest, one inference)
        verify = farm_cluster.run(
            [sys.executable, "-m", "builder", "verify", str(workdir / "artifacts" / profile)], cwd=workdir
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    (record,) = (workdir / "reports" / "farm").glob("*.json")
    results = {r["profile"]: r for r in json.loads(record.read_text())["results"]}
    assert (
        results["farm-a"]["status"] == "built" and farm_cluster.nodes["alpha"].node_id[:8] in results["farm-a"]["node"]
    )
    assert results["farm-b"]["label"] == "pool:beta"
    before = {p: _builds(workdir, p) for p in ("farm-a", "farm-b")}

    again = farm_cluster.run(argv, cwd=workdir)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "UP-TO-DATE farm-a" in again.stdout and "UP-TO-DATE farm-b" in again.stdout
    assert "[farm]" not in again.stdout  # the build key decided before any task was submitted: no progress lines
    assert {p: _builds(workdir, p) for p in ("farm-a", "farm-b")} == before


def test_unserveable_profile_is_refused_before_anything_runs(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    (workdir / "profiles" / "h100-tiny.yaml").write_text(
        "name: h100-tiny\nextends: t4-fp16\ntarget: {gpu: H100, compute_capability: '9.0'}\nimgsz: 64\n"
    )
    result = farm_cluster.run(farm_argv(workdir, "--profiles", "farm-c", "h100-tiny"), cwd=workdir)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "targets GPU 'H100'" in result.stderr and "accelerator types: FAKE_A, T4" in result.stderr
    assert "[farm]" not in result.stdout and _builds(workdir, "farm-c") == []


def test_tensorrt_profile_goes_to_the_t4_node(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    """The T4 stand-in has no TensorRT: the build fails there, and the failure names that node."""
    result = farm_cluster.run(farm_argv(workdir, "--profiles", "t4-tiny"), cwd=workdir)
    assert result.returncode == 4, result.stdout + result.stderr
    beta = farm_cluster.nodes["beta"].node_id[:8]
    assert f"FAILED t4-tiny on 127.0.0.1/{beta}" in result.stdout
    assert _builds(workdir, "t4-tiny") == []


def test_a_driver_without_the_token_is_refused(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    """Three drivers at once (each waits for Ray's connection timeout): no token, a wrong token, and the farm
    itself without RAY_AUTH_MODE=token (refused before it tries)."""
    from concurrent.futures import ThreadPoolExecutor

    code = f"import ray; ray.init(address={farm_cluster.address!r}); print('JOINED')"
    with ThreadPoolExecutor(3) as pool:
        no_token = pool.submit(farm_cluster.run, [sys.executable, "-c", code], token=False, timeout=180)
        wrong = pool.submit(
            farm_cluster.run,
            [sys.executable, "-c", code],
            extra_env={"RAY_AUTH_TOKEN": "not-the-token-" + "0" * 32},
            timeout=180,
        )
        refused = pool.submit(
            farm_cluster.run, farm_argv(workdir, "--profiles", "farm-c", "--address", farm_cluster.address), token=False
        )
    for attempt in (no_token.result(), wrong.result()):
        assert attempt.returncode != 0 and "JOINED" not in attempt.stdout, attempt.stdout + attempt.stderr[-2000:]
    assert "token" in (no_token.result().stderr + no_token.result().stdout).lower()
    assert refused.result().returncode == 3 and "RAY_AUTH_MODE is not 'token'" in refused.result().stderr, (
        refused.result().stderr
    )
