"""Faults on a real local Ray cluster: a corrupted transfer, Ctrl-C of the driver, a node killed mid-build.

The node kill runs last: it takes down one of the session cluster's workers.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.farm.conftest import farm_argv
from tests.farm.localcluster import LocalRayCluster

pytestmark = pytest.mark.farm

DAMAGED_RUN = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from builder.farm.run import FarmOptions, run_farm
from tests.farm.damage import flip_a_byte
root = Path(sys.argv[1])
options = FarmOptions(profiles=("farm-d",), profiles_dir=root / "profiles", artifacts=root / "artifacts",
                      models=root / "models", node_root=str(root / "nodes"), runner="bare",
                      pools={"farm-d": "pool:alpha"})
print("RESULTS " + json.dumps([asdict(r) for r in run_farm(options, build_task=flip_a_byte)]))
"""


def _builds(workdir: Path, profile: str) -> list[Path]:
    folder = workdir / "artifacts" / profile / "builds"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _read_until(process: subprocess.Popen[str], pattern: str, timeout: float) -> tuple[re.Match[str] | None, str]:
    """Read the driver's output until a line matches ``pattern``; (match, everything read)."""
    assert process.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if not ready:
            continue
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        match = re.search(pattern, line)
        if match:
            return match, seen
    return None, seen


def _task_processes(name: str) -> list[int]:
    """PIDs whose command line names the Ray task ``name`` (Ray titles a worker ``ray::<task name>``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if name.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_corrupted_transfer_is_no_go_and_nothing_is_published(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    result = farm_cluster.run([sys.executable, "-c", DAMAGED_RUN, str(workdir)], cwd=workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("RESULTS ")]
    (outcome,) = json.loads(line[len("RESULTS ") :])
    assert outcome["status"] == "no-go", outcome
    assert "NO-GO farm-d" in result.stdout and "nothing published" in result.stdout
    assert _builds(workdir, "farm-d") == []
    assert not (workdir / "artifacts" / "farm-d" / "latest").exists()


def test_ctrl_c_cancels_the_remote_build(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    driver = farm_cluster.popen(farm_argv(workdir, "--profiles", "farm-c", "--pool", "farm-c=pool:alpha"), cwd=workdir)
    try:
        match, seen = _read_until(driver, r"\[farm\] farm-c .* export ", timeout=120)
        assert match, seen
        driver.send_signal(signal.SIGINT)
        rest, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 130, seen + rest
    assert "cancelling 1 remote build" in rest and "cancelled" in rest
    assert _builds(workdir, "farm-c") == []
    deadline = time.monotonic() + 30
    while _task_processes("farm-build:farm-c") and time.monotonic() < deadline:
        time.sleep(1)
    assert _task_processes("farm-build:farm-c") == []  # nothing of the build still runs on the node


def test_a_node_killed_mid_build_is_retried_on_another_node(farm_cluster: LocalRayCluster, workdir: Path) -> None:
    driver = farm_cluster.popen(farm_argv(workdir, "--profiles", "farm-k", "--pool", "farm-k=pool:shared"), cwd=workdir)
    try:
        match, seen = _read_until(driver, r"\[farm\] farm-k +127\.0\.0\.1/([0-9a-f]{8}) .* export ", timeout=120)
        assert match, seen
        victim = next(name for name, node in farm_cluster.nodes.items() if node.node_id.startswith(match.group(1)))
        survivor = "beta" if victim == "alpha" else "alpha"
        farm_cluster.kill(victim)
        rest, _ = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    output = seen + rest
    assert driver.returncode == 0, output
    assert "RETRY farm-k" in output, output
    (build,) = _builds(workdir, "farm-k")
    manifest = json.loads((build / "manifest.json").read_text())
    assert f"--on-node={farm_cluster.nodes[survivor].node_id}" in manifest["launch"]["argv"]
