"""Timing helpers: run ``python -m builder`` commands in a scratch workspace and read their manifests."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STAGES = ("export", "build", "verify", "benchmark", "publish")


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    seconds: float
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Run:
        if self.returncode != 0:
            tail = "\n".join((self.stdout + self.stderr).splitlines()[-25:])
            raise RuntimeError(f"`{' '.join(self.argv)}` exited {self.returncode}:\n{tail}")
        return self


def quiet_env(scratch: Path, repo: Path = REPO) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_FOUNDRY_")}
    env.update(
        YOLO_AUTOINSTALL="false",
        YOLO_OFFLINE="1",
        POLYGRAPHY_AUTOINSTALL_DEPS="0",
        PYTHONUNBUFFERED="1",
        YOLO_CONFIG_DIR=str(scratch / "yolo-config"),
        PYTHONPATH=str(repo),
    )
    return env


def run_builder(argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> Run:
    """Wall-clock time of one ``python -m builder ARGV`` process, start to exit."""
    full = (sys.executable, "-m", "builder", *argv)
    started = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return Run(full, time.perf_counter() - started, proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Workspace:
    """profiles/ (the shipped ones plus extras), models/, cache/ and one artifacts folder per use."""

    root: Path

    @classmethod
    def create(cls, root: Path, extra_profiles: dict[str, str]) -> Workspace:
        (root / "profiles").mkdir(parents=True)
        for path in (REPO / "profiles").glob("*.yaml"):
            shutil.copy(path, root / "profiles" / path.name)
        for name, text in extra_profiles.items():
            (root / "profiles" / f"{name}.yaml").write_text(text)
        for folder in ("models", "cache"):
            (root / folder).mkdir()
        return cls(root)

    def args(self, artifacts: str) -> list[str]:
        return [
            "--profiles-dir",
            str(self.root / "profiles"),
            "--artifacts",
            str(self.root / artifacts),
            "--models",
            str(self.root / "models"),
            "--cache-dir",
            str(self.root / "cache"),
        ]

    def env(self) -> dict[str, str]:
        return quiet_env(self.root)


def latest_manifest(artifacts: Path, profile: str) -> dict[str, Any]:
    link = artifacts / profile / "latest"
    return json.loads((link / "manifest.json").read_text())


def stage_seconds(manifest: dict[str, Any]) -> dict[str, float]:
    return {s["name"]: float(s.get("seconds") or 0.0) for s in manifest["stages"]}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """``median (min-max, n=N)`` in seconds."""
    if len(values) == 1:
        return f"{values[0]:.2f} s (n=1)"
    return f"{median(values):.2f} s ({min(values):.2f}-{max(values):.2f}, n={len(values)})"
