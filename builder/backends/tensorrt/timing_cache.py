"""The TensorRT timing cache on disk: one file per (cache name, GPU model, TensorRT version).

A timing cache only helps on the GPU and TensorRT it was made with (TensorRT checks its header), so the key is
in the file name: ``<cache dir>/timing-cache/<name>-<gpu slug>-sm<cc>-trt<version>.cache``. The file is read
under an ``fcntl`` lock before the build, and replaced atomically under the same lock after it, combined with the
entries another build saved meanwhile (``plan._save_timing_cache``): builds sharing a cache run side by side and
neither overwrites the other's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builder.backends.tensorrt.versions import TrtVersion
from builder.common.locking import profile_lock
from builder.common.safe_io import CACHE_BYTES, read_bytes
from builder.machine.gpu import GpuInfo

FOLDER = "timing-cache"


def slug(text: str) -> str:
    """Lowercase, runs of other characters turned into single dashes.

    "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3".
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cache_key_stem(gpu: GpuInfo, version: TrtVersion) -> str:
    """``<gpu slug>-sm<cc>-trt<version>``: what makes a TensorRT cache valid."""
    cc = gpu.compute_capability.replace(".", "") or "unknown"
    return f"{slug(gpu.name)}-sm{cc}-trt{version.short}"


def timing_cache_path(cache_dir: Path, name: str, gpu: GpuInfo, version: TrtVersion) -> Path:
    return cache_dir / FOLDER / f"{slug(name)}-{cache_key_stem(gpu, version)}.cache"


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (waits for other holders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with profile_lock(path.with_name(path.name + ".lock"), wait=True):
        yield


def read_bytes_or_empty(path: Path) -> bytes:
    try:
        return read_bytes(path, what="timing cache", limit=CACHE_BYTES)  # a FIFO or device: refused, named
    except FileNotFoundError:
        return b""


def timing_cache_details(path: Path, before: bytes, after: bytes, status: str) -> dict[str, Any]:
    """What the manifest records about the cache; growth is a proxy for misses (new tactics timed).

    ``status`` is what TensorRT did with ``before``: "loaded", "new" (nothing on disk) or "rejected"
    (``set_timing_cache`` refused it; the build started from an empty cache).
    """
    growth = len(after) - len(before) if status == "loaded" else len(after)
    if status != "loaded":
        reuse = "cold (no usable cache)"
    elif growth == 0:
        reuse = "warm (no new entries: every layer came from the cache)"
    else:
        reuse = "partial (new entries were timed and added)"
    return {
        "path": str(path),
        "status": status,
        "bytes_before": len(before),
        "bytes_after": len(after),
        "growth_bytes": growth,
        "reuse": reuse,
        "sha256_before": hashlib.sha256(before).hexdigest() if before else None,
        "sha256_after": hashlib.sha256(after).hexdigest() if after else None,
    }
