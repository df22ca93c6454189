"""Farm parallelism: N builds on K Ray nodes vs the same N builds on one node (a real local cluster).

The cluster is the one the farm tests use (``tests/farm/localcluster.py``: ``ray start`` processes in a private
network namespace, token authentication). Each scenario has its own central artifacts and node-local folders, so
nothing is up to date. On a machine with few cores the builds compete for them: the speed-up measured here is a
floor, not what a fleet of separate GPU hosts gives.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from bench.workloads import Results, Verdict

TARGET = "K nodes faster than 1 (ratio > 1)"
NAME = "farm: {n} builds on {k} nodes vs 1 node (imgsz 64)"
TINY = "name: {name}\nextends: cpu-fp32\ndescription: bench farm build\nimgsz: 64\nbenchmark: {{warmup: 1, iterations: 3}}\n"


def farm_parallelism(results: Results, scratch: Path, *, builds: int = 2, nodes: int = 2) -> None:
    name = NAME.format(n=builds, k=nodes)
    from tests.farm.localcluster import LocalRayCluster, namespace_support

    why = "Ray is not installed" if importlib.util.find_spec("ray") is None else namespace_support()
    if why:
        results.verdicts.append(Verdict(name, "-", TARGET, None, f"not measured: {why}"))
        return
    repo = Path(__file__).resolve().parents[1]
    profiles = scratch / "farm-profiles"
    profiles.mkdir(parents=True)
    for base in ("cpu-fp32.yaml", "_yolo11n-640.yaml"):
        (profiles / base).write_text((repo / "profiles" / base).read_text())
    names = [f"farm-bench-{i}" for i in range(builds)]
    for profile in names:
        (profiles / f"{profile}.yaml").write_text(TINY.format(name=profile))
    workers = {f"w{i}": {"pool:bench": 1.0, f"pool:w{i}": 1.0} for i in range(nodes)}
    cluster = LocalRayCluster(scratch / "farm-cluster").start(workers)  # stops itself if it cannot start
    try:
        spread = _timed(cluster, scratch / "spread", profiles, names, "pool:bench")
        single = _timed(cluster, scratch / "single", profiles, names, "pool:w0")
    finally:
        cluster.stop()
    ratio = single / spread
    results.raw[name] = [spread, single]
    results.verdicts.append(Verdict(name, f"{spread:.1f} s vs {single:.1f} s (x{ratio:.2f})", TARGET, ratio > 1.0,
                                    f"driver wall time, {builds} CPU profiles; {nodes} worker nodes of 1 CPU each"))  # fmt: skip


def _timed(cluster: object, root: Path, profiles: Path, names: list[str], pool: str) -> float:
    from tests.farm.localcluster import LocalRayCluster

    assert isinstance(cluster, LocalRayCluster)
    argv = [sys.executable, "-m", "builder", "farm", "--profiles", *names, "--profiles-dir", str(profiles), "--runner", "bare",
            "--artifacts", str(root / "artifacts"), "--models", str(root / "models"), "--reports", str(root / "reports"),
            "--node-root", str(root / "nodes"), *(a for n in names for a in ("--pool", f"{n}={pool}"))]  # fmt: skip
    started = time.perf_counter()
    run = cluster.run(argv, cwd=root.parent, timeout=1800)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"farm run exited {run.returncode}: {(run.stdout + run.stderr)[-1500:]}")
    return seconds
