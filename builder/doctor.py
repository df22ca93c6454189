"""`doctor`: what this machine has, and what each profile still needs."""

from __future__ import annotations

import importlib.util
import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.catalog import BackendEntry, build_packages, get_backend_entry
from builder.environment import package_versions


@dataclass
class DoctorReport:
    python: str
    packages: dict[str, str | None]
    gpus: list[dict[str, Any]]
    gpu_discovery: str  # "nvml", "nvidia-smi", or why neither found a GPU
    cuda_driver: str | None
    trtexec: str | None
    docker: str
    profiles: list[dict[str, Any]] = field(default_factory=list)


def _docker_status() -> str:
    if importlib.util.find_spec("docker") is None:
        return "docker SDK not installed (pip install docker)"
    import docker

    try:
        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
        client.close()
        return f"engine {version} reachable"
    except Exception as err:  # any failure to reach the daemon is a finding, not a crash
        return f"daemon not reachable ({type(err).__name__}: {str(err)[:120]})"


def run_doctor(profiles_dir: Path) -> DoctorReport:
    from builder.backends.tensorrt.trtexec import find_trtexec
    from builder.gpu import cuda_driver_version, probe_gpus
    from builder.profile import list_profiles

    packages = package_versions()
    probe = probe_gpus()
    gpus = [gpu.to_dict() for gpu in probe.gpus]
    discovery = probe.method if probe.gpus else "; ".join(probe.problems) or "none"
    report = DoctorReport(platform.python_version(), packages, gpus, discovery, cuda_driver_version(), find_trtexec(), _docker_status())
    for item in list_profiles(profiles_dir) if profiles_dir.is_dir() else []:
        if item.abstract:
            continue
        if item.error:
            report.profiles.append({"name": item.name, "ready": False, "missing": [f"invalid profile: {item.error}"]})
            continue
        missing = _missing(get_backend_entry(item.backend), packages, has_gpu=bool(gpus))
        report.profiles.append({"name": item.name, "ready": not missing, "missing": missing})
    return report


def _missing(entry: BackendEntry, packages: dict[str, str | None], *, has_gpu: bool) -> list[str]:
    """What a build with ``entry`` needs that this machine lacks (``packages``: versions, None when absent)."""
    missing = [f"python package {name}" for name in build_packages(entry) if packages.get(name) is None]
    if entry.needs_gpu and not has_gpu:
        missing.append("an NVIDIA GPU (none found through NVML or nvidia-smi)")
    return missing


def print_doctor(report: DoctorReport, *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    print(f"python      {report.python}")
    for name, version in report.packages.items():
        print(f"{name:24} {version or 'MISSING'}")
    for gpu in report.gpus:
        print(f"gpu {gpu['index']}       {gpu['name']} (cc {gpu['compute_capability']}), driver {gpu['driver_version']}")
    if not report.gpus:
        print(f"gpus        none ({report.gpu_discovery})")
    print(f"cuda driver {report.cuda_driver or 'unknown'}")
    print(f"trtexec     {report.trtexec or 'not found'}")
    print(f"docker      {report.docker}")
    for item in report.profiles:
        state = "ready" if item["ready"] else "needs " + "; ".join(item["missing"])
        print(f"profile {item['name']:22} {state}")
