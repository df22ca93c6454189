"""`doctor`: what this host has, what the images hold, and per profile "buildable here: yes/no, why".

Three separate questions, never mixed: the **host** needs (a Docker engine, a GPU and the NVIDIA Container
Toolkit for GPU backends, debootstrap for the offline base); the **images** (built or not, their base present or
not: the Python packages of a build live in the image, not on the host); and **this process** (only for
``--bare`` builds, which run here without Docker).
"""

from __future__ import annotations

import importlib.util
import json
import platform
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.catalog import BackendEntry, build_packages, flavours, get_backend_entry
from builder.errors import HostEnvironmentError
from builder.machine.buildable import BuildHost, why_not_buildable
from builder.machine.environment import package_versions

UNKNOWN = "not checked"  # a finding this Python cannot make (it lacks a package), never "missing"
TOOLKIT_PROGRAMS = ("nvidia-container-runtime", "nvidia-ctk", "nvidia-container-toolkit")


@dataclass
class DoctorReport:
    python: str
    packages: dict[str, str | None]  # this process: what a --bare build would use
    gpus: list[dict[str, Any]]
    gpu_discovery: str  # "nvml", "nvidia-smi", or why neither found a GPU
    cuda_driver: str | None
    trtexec: str | None
    docker: str
    host: dict[str, str] = field(default_factory=dict)  # host needs: docker, gpu, nvidia toolkit, debootstrap
    images: dict[str, dict[str, str]] = field(default_factory=dict)  # flavour -> {"image", "base"}
    profiles: list[dict[str, Any]] = field(default_factory=list)


def _docker_client() -> tuple[Any, str]:
    if importlib.util.find_spec("docker") is None:
        return None, f"{UNKNOWN}: this Python ({sys.executable}) lacks the docker SDK, so doctor cannot ask the engine"
    import docker

    try:
        client = docker.from_env(timeout=5)
        return client, f"engine {client.version().get('Version', '?')} reachable"
    except Exception as err:  # any failure to reach the daemon is a finding, not a crash
        return None, docker_unreachable(err)


#: the socket error inside the SDK's ``DockerException`` -> what it means
_DOCKER_CAUSES = (
    (
        ("FileNotFoundError", "No such file or directory"),
        "nothing listens there (Docker is not installed or not running)",
    ),
    (("PermissionError", "Permission denied"), "this user may not use its socket (join the docker group, or be root)"),
    (("ConnectionRefusedError", "Connection refused"), "its socket refuses connections (start the engine: dockerd)"),
    (("ReadTimeout", "timed out"), "it did not answer within 5 s"),
)


def docker_unreachable(err: BaseException) -> str:
    """Why no Docker engine answered, in words (the SDK wraps the socket error in a long ``DockerException``)."""
    import os

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    text = f"{type(err).__name__}: {err}"
    for needles, why in _DOCKER_CAUSES:
        if any(needle in text for needle in needles):
            return f"no Docker engine at {where}: {why}"
    first = str(err).splitlines()[0][:160] if str(err) else ""
    return f"no Docker engine at {where}: {type(err).__name__}: {first}"


def _nvidia_toolkit(client: Any) -> str:
    runtimes: dict[str, Any] = {}
    if client is not None:
        try:
            runtimes = client.info().get("Runtimes") or {}
        except Exception:  # a finding, not a crash
            runtimes = {}
    found = [name for name in TOOLKIT_PROGRAMS if shutil.which(name)]
    if "nvidia" in runtimes or found:
        return "present (" + ", ".join((["docker runtime nvidia"] if "nvidia" in runtimes else []) + found) + ")"
    return "not found (GPU backends need the NVIDIA Container Toolkit: nvidia-container-toolkit)"


def _images(client: Any) -> dict[str, dict[str, str]]:
    """Per flavour: is the image there, and where its base comes from (images.lock)."""
    from builder.host.spec import DEFAULT_IMAGES

    try:
        from builder.host.image import repo_root
        from builder.host.images_lock import read_images_lock

        pins = read_images_lock(repo_root() / "images.lock")
    except Exception:  # not a checkout, or an unreadable lock: the image lines say so
        pins = {}
    found: dict[str, dict[str, str]] = {}
    for flavour in flavours():
        tag = DEFAULT_IMAGES[flavour]
        image = _local_image(client, tag)
        entry: dict[str, str] = {
            "image": f"{tag} present ({image})" if image else f"{tag} missing: `make image FLAVOUR={flavour}` builds it"
        }
        if client is None:
            entry["image"] = f"{tag} {UNKNOWN}: no Docker engine to ask"
        pin = pins.get(flavour)
        if pin is not None:
            here = _local_image(client, pin.build_ref)
            entry["base"] = f"{pin.ref}: " + (
                "present locally" if here else "not present locally; pulled when the image is built"
            )
            if client is None:
                entry["base"] = f"{pin.ref}: {UNKNOWN}"
            offline = pins.get(f"{flavour}-offline")
            if offline is not None and not here and client is not None:
                entry["base"] += f"; else the local Debian base {offline.ref} (made with debootstrap)"
        found[flavour] = entry
    return found


def _local_image(client: Any, ref: str) -> str | None:
    if client is None:
        return None
    try:
        return str(client.images.get(ref).id)[:19]
    except Exception:  # not present (or no daemon): a finding
        return None


def run_doctor(profiles_dir: Path) -> DoctorReport:
    from builder.backends.tensorrt.trtexec import find_trtexec
    from builder.machine.gpu import cuda_driver_version, probe_gpus
    from builder.profile import list_profiles, load_profile

    packages = package_versions()
    probe = probe_gpus()
    gpus = [gpu.to_dict() for gpu in probe.gpus]
    discovery = probe.method if probe.gpus else "; ".join(probe.problems) or "none"
    client, docker_status = _docker_client()
    report = DoctorReport(
        platform.python_version(), packages, gpus, discovery, cuda_driver_version(), find_trtexec(), docker_status
    )
    debootstrap = shutil.which("debootstrap")
    report.host = {
        "docker": docker_status,
        "gpu": f"{len(gpus)} found ({discovery})" if gpus else f"none ({discovery})",
        "nvidia_container_toolkit": _nvidia_toolkit(client),
        "debootstrap": debootstrap
        or "not found (needed only to make the offline Debian base: apt-get install debootstrap)",
    }
    report.images = _images(client)
    host = BuildHost(len(gpus), discovery)
    for item in list_profiles(profiles_dir) if profiles_dir.is_dir() else []:
        if item.abstract:
            continue
        if item.error:
            why = f"invalid profile: {item.error}"
            report.profiles.append(
                {"name": item.name, "buildable": False, "why": why, "ready": False, "missing": [why], "notes": []}
            )
            continue
        entry = get_backend_entry(item.backend)
        profile = load_profile(item.path, profiles_dir)
        blockers = _blockers(entry, host, client is not None, docker_status, report.host["nvidia_container_toolkit"])
        blockers += _target_blockers(profile, probe.gpus)
        where = f"in the {entry.flavour} image" + (" on the GPU" if entry.needs_gpu else "")
        missing = _missing(entry, packages, has_gpu=bool(gpus))
        report.profiles.append(
            {
                "name": item.name,
                "buildable": not blockers,
                "why": "; ".join(blockers) or where,
                "ready": not missing,
                "missing": missing,
                "notes": _image_notes(profile, report.images),
            }
        )
    if client is not None:
        client.close()
    return report


def _blockers(entry: BackendEntry, host: BuildHost, docker_ok: bool, docker_status: str, toolkit: str) -> list[str]:
    """Everything that stops ``make engine`` here; a host-wide need is explained once, in the host lines."""
    blockers = []
    reason = why_not_buildable(entry.name, host)
    if reason:
        blockers.append(reason)
    if not docker_ok and docker_status.startswith(UNKNOWN):
        blockers.append(f"Docker {UNKNOWN} (see host: docker)")
    elif not docker_ok:
        blockers.append("no Docker engine (see host: docker)")
    if entry.needs_gpu and host.gpu_count and not toolkit.startswith("present"):
        blockers.append(f"the {entry.name} backend runs its container on the GPU: no NVIDIA Container Toolkit")
    return blockers


def _target_blockers(profile: Any, gpus: Any) -> list[str]:
    """The profile's ``target`` against the GPU a build would use (CUDA device 0), checked as the build checks it."""
    import os

    from builder.backends.tensorrt.target import check_target, select_build_gpu
    from builder.errors import BuilderError

    if getattr(profile, "target", None) is None or not gpus:
        return []
    try:
        gpu = select_build_gpu(gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
        if gpu is not None:
            check_target(profile, gpu)
    except BuilderError as err:
        return [f"target: {err.message}"]
    return []


def _image_notes(profile: Any, images: dict[str, dict[str, str]]) -> list[str]:
    """What ``make engine`` does first here: build the profile's image when it is not there (said once, in images)."""
    from builder.host.spec import DEFAULT_IMAGES, flavour_for_profile

    flavour = flavour_for_profile(profile)
    missing = "missing" in images.get(flavour, {}).get("image", "")
    return [f"builds the image {DEFAULT_IMAGES[flavour]} (see images)"] if missing else []


def _missing(entry: BackendEntry, packages: dict[str, str | None], *, has_gpu: bool) -> list[str]:
    """What a ``--bare`` build with ``entry`` in this process needs that this process lacks."""
    missing = [f"python package {name}" for name in build_packages(entry) if packages.get(name) is None]
    if entry.needs_gpu and not has_gpu:
        missing.append("an NVIDIA GPU (none found through NVML or nvidia-smi)")
    return missing


def print_doctor(report: DoctorReport, *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    print("host (what `make engine` needs on this machine)")
    for name, value in report.host.items():
        print(f"  {name:26} {value}")
    for gpu in report.gpus:
        print(
            f"  gpu {gpu['index']:<22} {gpu['name']} (cc {gpu['compute_capability']}), driver {gpu['driver_version']}"
        )
    print("images (builds run in them; the build's Python packages, TensorRT and trtexec live there)")
    for flavour, entry in report.images.items():
        print(f"  {flavour:26} {entry['image']}")
        if "base" in entry:
            print(f"  {'':26} base {entry['base']}")
    print("profiles (make engine PROFILE=...)")
    for item in report.profiles:
        print(f"  {item['name']:26} buildable here: {'yes' if item['buildable'] else 'no'}: {item['why']}")
        for note in item.get("notes", []):
            print(f"  {'':26} first {note}")
    print(f"this process (only for --bare builds without Docker): python {report.python}")
    for name, version in report.packages.items():
        print(f"  {name:26} {version or 'MISSING'}")
    print(f"  {'cuda driver':26} {report.cuda_driver or 'unknown'}")
    print(f"  {'trtexec':26} {report.trtexec or 'not found'}")
    bare = [item["name"] for item in report.profiles if item["ready"]]
    print(f"  --bare builds possible here: {', '.join(bare) or 'none'}")


def check_complete(report: DoctorReport) -> None:
    """Raise when this Python could not make the host findings (it lacks the docker SDK): the report above is
    incomplete, so doctor fails as the environment (exit 3), naming the command that has the packages.

    Raises:
        HostEnvironmentError: the docker SDK is not importable here.
    """
    if report.docker.startswith(UNKNOWN):
        from builder.errors import cli

        raise HostEnvironmentError(
            "doctor could not check Docker, the images or which profiles build here: "
            + report.docker.split(": ", 1)[1],
            hint=f"run `{cli('doctor')}` from the repository root (`scripts/setup-env host` makes .venv if missing)",
        )
