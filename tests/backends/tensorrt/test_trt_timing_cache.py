"""Timing cache files: keyed paths, atomic replacement, the lock, and what is recorded."""

from __future__ import annotations

import threading
from pathlib import Path

from builder.backends.tensorrt.timing_cache import (
    cache_lock,
    read_bytes_or_empty,
    slug,
    timing_cache_details,
    timing_cache_path,
)
from builder.backends.tensorrt.versions import parse_trt_version
from builder.common.atomic import write_bytes_atomic
from tests.backends.tensorrt.trt_fakes import H100, T4


def test_path_is_keyed_by_name_gpu_model_and_tensorrt_version(tmp_path: Path) -> None:
    path = timing_cache_path(tmp_path, "default", H100, parse_trt_version("8.6.1.6"))
    assert path == tmp_path / "timing-cache" / "default-nvidia-h100-80gb-hbm3-sm90-trt8.6.1.cache"
    others = {
        timing_cache_path(tmp_path, "default", T4, parse_trt_version("8.6.1.6")),
        timing_cache_path(tmp_path, "default", H100, parse_trt_version("10.0.1.6")),
        timing_cache_path(tmp_path, "yolo", H100, parse_trt_version("8.6.1.6")),
    }
    assert path not in others and len(others) == 3
    assert timing_cache_path(tmp_path, "default", H100, parse_trt_version("8.6.1.5")) == path  # build number ignored
    assert slug("  NVIDIA GeForce RTX 4090 ") == "nvidia-geforce-rtx-4090" and slug("***") == "unknown"


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "timing-cache" / "x.cache"
    assert read_bytes_or_empty(path) == b""
    write_bytes_atomic(path, b"first")
    write_bytes_atomic(path, b"second, longer")
    assert read_bytes_or_empty(path) == b"second, longer"
    assert [p.name for p in path.parent.iterdir()] == ["x.cache"]


def test_lock_makes_a_second_builder_wait(tmp_path: Path) -> None:
    path = tmp_path / "timing-cache" / "x.cache"
    entered = threading.Event()

    def second_builder() -> None:
        with cache_lock(path):
            entered.set()

    with cache_lock(path):
        worker = threading.Thread(target=second_builder)
        worker.start()
        assert not entered.wait(0.3)  # still blocked while the first holds the lock
    worker.join(5)
    assert entered.is_set()


def test_details_tell_cold_warm_and_partial_reuse(tmp_path: Path) -> None:
    path = tmp_path / "c.cache"
    cold = timing_cache_details(path, b"", b"A" * 100, "new")
    assert (cold["growth_bytes"], cold["bytes_before"], cold["bytes_after"]) == (100, 0, 100)
    assert cold["reuse"].startswith("cold") and cold["sha256_before"] is None and len(cold["sha256_after"]) == 64
    warm = timing_cache_details(path, b"A" * 100, b"A" * 100, "loaded")
    assert (
        warm["growth_bytes"] == 0 and warm["reuse"].startswith("warm") and warm["sha256_before"] == warm["sha256_after"]
    )
    partial = timing_cache_details(path, b"A" * 100, b"A" * 150, "loaded")
    assert partial["growth_bytes"] == 50 and partial["reuse"].startswith("partial")
    rejected = timing_cache_details(path, b"B" * 80, b"C" * 60, "rejected")
    assert rejected["growth_bytes"] == 60 and rejected["reuse"].startswith("cold") and rejected["status"] == "rejected"
