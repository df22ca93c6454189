"""A real multi-node Ray cluster on this machine, for the farm tests (nothing faked).

Every node is a ``ray start --block`` process in its own process group, and all of them (and the drivers the
tests run) live in one private network namespace that has only a loopback interface: the cluster is reachable
from nothing else on this machine or beyond it. Token authentication is on (a fresh random token per cluster).
Nodes stand in for GPU types with custom resources (``accelerator_type:FAKE_A``…); a node can be killed on its
own (its process group), and :meth:`LocalRayCluster.stop` kills exactly the processes it started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def namespace_support() -> str | None:
    """None when private network namespaces can be made here, else why not."""
    try:
        probe = subprocess.run(["unshare", "-n", "true"], check=False, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare is not usable: {err}"
    return None if probe.returncode == 0 else f"cannot make a private network namespace: {probe.stderr.strip()}"


@dataclass
class Node:
    name: str
    node_id: str
    process: subprocess.Popen[bytes]
    resources: Mapping[str, float]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class LocalRayCluster:
    root: Path
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    nodes: dict[str, Node] = field(default_factory=dict)
    address: str = ""
    _holder: subprocess.Popen[bytes] | None = None
    _temp: Path | None = None  # Ray's session folders: short, Unix socket paths are limited to 107 bytes

    # -- environment ------------------------------------------------------------------------------------------
    @property
    def netns(self) -> list[str]:
        assert self._holder is not None
        return ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", "--"]

    def env(self, *, token: bool = True, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of nodes and drivers: token auth, quiet and offline ultralytics, this checkout first."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "ENGINE_FOUNDRY_"))}
        env.update(
            HOME=str(self.root / "home"), RAY_USAGE_STATS_ENABLED="0",
            PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
            YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", YOLO_CONFIG_DIR=str(self.root / "yolo"),
            POLYGRAPHY_AUTOINSTALL_DEPS="0",
            RAY_health_check_period_ms="1000", RAY_health_check_timeout_ms="1000",
            RAY_health_check_failure_threshold="3",
        )  # fmt: skip
        if token:
            env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        env.update(extra or {})
        return env

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(
        self, workers: Mapping[str, Mapping[str, float]], *, gpus: Mapping[str, int] | None = None
    ) -> LocalRayCluster:
        """Head (no CPUs: it only coordinates) plus one worker per ``workers`` entry.

        Each worker has 1 CPU and those resources.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "home").mkdir(exist_ok=True)
        self._temp = Path(tempfile.mkdtemp(prefix="efray-"))
        self._holder = subprocess.Popen(["unshare", "-n", "sh", "-c",
                                         "ip link set lo up 2>/dev/null || ifconfig lo up; exec sleep 100000"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)  # fmt: skip
        try:
            time.sleep(0.3)
            head = self._start_node("head", ["--head", "--port=0", "--num-cpus=0", "--include-dashboard=false"], {})
            self.address = self._wait_for_address(head)
            for name, resources in workers.items():
                self.add_worker(name, resources, gpus=(gpus or {}).get(name, 0), wait=False)
            self.wait_for_nodes(len(workers) + 1)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, name: str, resources: Mapping[str, float], *, gpus: int = 0, wait: bool = True) -> Node:
        args = [
            f"--address={self.address}",
            "--num-cpus=1",
            f"--num-gpus={gpus}",
            "--resources",
            json.dumps(dict(resources)),
        ]
        node = self._start_node(name, args, resources)
        if wait:
            self.wait_for_nodes(sum(n.alive for n in self.nodes.values()))
        return node

    def _start_node(self, name: str, args: Sequence[str], resources: Mapping[str, float]) -> Node:
        node_id = secrets.token_hex(28)  # Ray's node ID size; known in advance so tests can tell which node built what
        cmd = [*self.netns, sys.executable, "-m", "ray.scripts.scripts", "start", "--block",
               "--node-ip-address=127.0.0.1",
               f"--memory={1536 * MiB}", f"--object-store-memory={96 * MiB}", f"--temp-dir={self._temp_dir(name)}",
               "--disable-usage-stats", *args]  # fmt: skip
        env = self.env(extra={"RAY_OVERRIDE_NODE_ID_FOR_TESTING": node_id})
        with open(self.root / f"{name}.log", "wb") as log:  # the node keeps its own copy of the descriptor
            process = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
            )
        node = Node(name, node_id, process, resources)
        self.nodes[name] = node
        return node

    def _temp_dir(self, name: str) -> Path:
        assert self._temp is not None
        return self._temp / name

    def _wait_for_address(self, head: Node, timeout: float = 90) -> str:
        marker = self._temp_dir("head") / "ray_current_cluster"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.is_file() and marker.read_text().strip():
                return marker.read_text().strip()
            if not head.alive:
                break
            time.sleep(0.3)
        raise RuntimeError(f"the Ray head did not start: {(self.root / 'head.log').read_text()[-2000:]}")

    def alive_node_ids(self) -> list[str]:
        code = (f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
                "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))")  # fmt: skip
        result = self.run([sys.executable, "-c", code], timeout=120)
        return json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else []

    def wait_for_nodes(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive_node_ids()) >= count:
                return
            time.sleep(1)
        logs = {p.name: p.read_text()[-800:] for p in self.root.glob("*.log")}
        raise RuntimeError(f"{count} Ray nodes did not come up: {logs}")

    def kill(self, name: str) -> None:
        """Kill one node outright (SIGKILL to its process group: raylet, object store, its workers)."""
        node = self.nodes[name]
        _killpg(node.process)

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            _killpg(node.process)
        if self._holder is not None:
            _killpg(self._holder)
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)

    # -- drivers ----------------------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, token: bool = True, timeout: float = 300, cwd: Path | None = None,
            extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run a command inside the cluster's network namespace (a driver)."""
        env = self.env(token=token, extra=extra_env)
        return subprocess.run(
            [*self.netns, *argv],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or self.root,
        )

    def popen(self, argv: Sequence[str], *, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.netns, *argv], env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=cwd or self.root, start_new_session=True)  # fmt: skip


def _killpg(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
