"""What the benchmarks ran on: CPU, cores, memory, Docker, and the versions that shape the timings."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "ultralytics", "onnx", "onnxruntime", "polygraphy", "docker")


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    docker: str  # server version, or why there is none
    packages: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return [
            f"CPU: {self.cpu}",
            f"cores: {self.cores}",
            f"memory: {self.memory_gib:.1f} GiB",
            f"kernel: {self.kernel}",
            f"Python: {self.python}",
            f"Docker engine: {self.docker}",
            f"packages: {packages}",
        ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def docker_version() -> tuple[str | None, str]:
    """(server version, None-reason): the version, or None and why Docker cannot be used."""
    try:
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"no docker client ({err})"
    if out.returncode != 0 or not out.stdout.strip():
        return None, (out.stderr.strip().splitlines() or ["the Docker engine does not answer"])[-1]
    return out.stdout.strip(), ""


def describe_machine() -> Machine:
    version, reason = docker_version()
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "absent"
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gib=_memory_gib(),
        kernel=platform.release(),
        python=sys.version.split()[0],
        docker=version or f"unavailable ({reason})",
        packages=packages,
    )
