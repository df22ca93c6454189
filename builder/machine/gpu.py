"""GPU discovery through NVML or ``nvidia-smi``, for ``doctor``, the manifest and build keys.

Dependency-free: NVML comes from the optional ``pynvml`` module (package
``nvidia-ml-py``), imported lazily; without it, ``nvidia-smi`` is run and its
CSV output parsed by :func:`parse_nvidia_smi_csv` (tested on recorded output).
No GPU, no driver and no tool all give an empty list, never an exception.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import MutableMapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

NVIDIA_SMI_FIELDS = ("index", "name", "uuid", "compute_cap", "memory.total", "driver_version")
NVIDIA_SMI_TIMEOUT_S = 15


def parse_compute_capability(text: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a compute capability such as "8.6", or None when empty or not of that form."""
    match = re.fullmatch(r"(\d+)\.(\d+)", (text or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU as the driver reports it."""

    index: int
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    uuid: str  # e.g. "GPU-5c4d…"
    compute_capability: str  # "9.0"; "" when the driver cannot tell
    memory_total_mib: int
    driver_version: str

    @property
    def cc_tuple(self) -> tuple[int, int] | None:
        """``(major, minor)`` of :attr:`compute_capability`, or None when unknown."""
        return parse_compute_capability(self.compute_capability)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GpuProbe:
    """What discovery found, how, and why a method gave nothing."""

    gpus: tuple[GpuInfo, ...]
    method: str  # "nvml" | "nvidia-smi" | "none"
    problems: tuple[str, ...] = ()


def parse_nvidia_smi_csv(text: str, fields: Sequence[str] = NVIDIA_SMI_FIELDS) -> list[GpuInfo]:
    """Parse ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`` output.

    ``fields`` is :data:`NVIDIA_SMI_FIELDS`, or the same without ``compute_cap`` (drivers older than R510
    do not know it; the compute capability is then "").

    Raises:
        ValueError: a line that does not have the expected fields.
    """
    gpus = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(fields):
            raise ValueError(f"unexpected nvidia-smi line (want {len(fields)} fields {','.join(fields)}): {row!r}")
        value = dict(zip(fields, (field.strip() for field in row), strict=True))
        cc = value.get("compute_cap", "")
        memory = value["memory.total"]
        gpus.append(
            GpuInfo(
                index=int(value["index"]),
                name=value["name"],
                uuid=value["uuid"],
                compute_capability="" if cc.startswith("[") else cc,  # "[N/A]"
                memory_total_mib=int(float(memory)) if re.fullmatch(r"[\d.]+", memory) else 0,
                driver_version=value["driver_version"],
            )
        )
    return gpus


def parse_cuda_version(nvidia_smi_text: str) -> str | None:
    """The driver's CUDA version from plain ``nvidia-smi`` output ("CUDA Version: 12.2"), or None."""
    match = re.search(r"CUDA Version:\s*([\d.]+)", nvidia_smi_text)
    return match.group(1) if match else None


def nvidia_smi_command(fields: Sequence[str] = NVIDIA_SMI_FIELDS) -> list[str]:
    return ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]


def _gpus_from_nvidia_smi() -> list[GpuInfo]:
    try:
        return parse_nvidia_smi_csv(_run_nvidia_smi(nvidia_smi_command()))
    except RuntimeError as err:
        if "compute_cap" not in str(err):  # 'Field "compute_cap" is not a valid field to query.'
            raise
    fields = tuple(f for f in NVIDIA_SMI_FIELDS if f != "compute_cap")
    return parse_nvidia_smi_csv(_run_nvidia_smi(nvidia_smi_command(fields)), fields)


def _gpus_from_nvml() -> list[GpuInfo]:
    import pynvml  # optional (nvidia-ml-py); ImportError handled by the caller

    pynvml.nvmlInit()
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    compute_capability=f"{major}.{minor}",
                    memory_total_mib=int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024),
                    driver_version=driver,
                )
            )
        return gpus
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _run_nvidia_smi(args: Sequence[str]) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError((done.stdout + done.stderr).strip() or f"exit code {done.returncode}")
    return done.stdout


def probe_gpus() -> GpuProbe:
    """Find GPUs through NVML, else ``nvidia-smi``; record why each method failed."""
    problems = []
    try:
        return GpuProbe(tuple(_gpus_from_nvml()), "nvml")
    except ImportError:
        problems.append("NVML: the pynvml module (nvidia-ml-py) is not installed")
    except Exception as err:  # pynvml.NVMLError and its many subclasses
        problems.append(f"NVML: {err}")
    if shutil.which("nvidia-smi") is None:
        problems.append("nvidia-smi: not on PATH")
        return GpuProbe((), "none", tuple(problems))
    try:
        return GpuProbe(tuple(_gpus_from_nvidia_smi()), "nvidia-smi")
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
        problems.append(f"nvidia-smi: {err}")
    return GpuProbe((), "none", tuple(problems))


def list_gpus() -> list[GpuInfo]:
    """The GPUs this process can see, in driver index order; ``[]`` when none (or no driver)."""
    return list(probe_gpus().gpus)


def gpu_identity(gpus: Sequence[GpuInfo]) -> str:
    """A stable string naming the GPU models (not the individual cards), for build keys.

    Two hosts with the same GPU models give the same identity; UUIDs, memory and driver are left out.
    """
    if not gpus:
        return "none"
    return "; ".join(f"{g.name} (cc {g.compute_capability or '?'})" for g in sorted(gpus, key=lambda g: g.index))


def cuda_driver_version() -> str | None:
    """The CUDA version the driver supports ("12.2"), from NVML or the ``nvidia-smi`` banner; None when unknown."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = int(pynvml.nvmlSystemGetCudaDriverVersion())
        finally:
            pynvml.nvmlShutdown()
        return f"{version // 1000}.{version % 1000 // 10}"
    except Exception:  # no module, no library, no driver: try the tool
        pass
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return parse_cuda_version(_run_nvidia_smi(["nvidia-smi"]))
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return None


PCI_BUS_ID = "PCI_BUS_ID"


def pin_cuda_device_order(environ: MutableMapping[str, str], gpus: Sequence[GpuInfo]) -> str:
    """Make CUDA number devices as the driver does (PCI bus order), before CUDA is initialised in this process.

    NVML and ``nvidia-smi`` index GPUs by PCI bus; CUDA orders them fastest-first unless
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so on a host with mixed GPUs "CUDA device 0" can be another GPU than
    driver index 0. Sets the variable when unset (the container gets it from the launcher too); CUDA reads it at
    initialisation, so this must run before TensorRT or torch touch the GPU. Returns the order in effect.

    Raises:
        HostEnvironmentError: another order was set explicitly on a host whose GPUs are not all one model.
    """
    from builder.errors import HostEnvironmentError

    order = environ.setdefault("CUDA_DEVICE_ORDER", PCI_BUS_ID)
    if order != PCI_BUS_ID and len({(g.name, g.compute_capability) for g in gpus}) > 1:
        raise HostEnvironmentError(
            f"CUDA_DEVICE_ORDER={order!r} numbers this host's {len(gpus)} GPUs ({gpu_identity(gpus)}) differently "
            "from the driver, so the GPU checked against the profile's target may not be the GPU that builds",
            hint="unset CUDA_DEVICE_ORDER or set CUDA_DEVICE_ORDER=PCI_BUS_ID (nvidia-smi's order), and pick the "
            "GPU with CUDA_VISIBLE_DEVICES",
        )
    return order
