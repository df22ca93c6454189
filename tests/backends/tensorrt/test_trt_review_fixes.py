"""Issue 17 section 2: the TensorRT review's defects (docs/tensorrt.md), each driven through the recording fake
``tensorrt`` (trt_fakes.py) and the real Polygraphy 0.53.6 calibrator around it."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import pytest

import builder.backends.tensorrt as backend
from builder.backends.tensorrt import trt_calls
from builder.backends.tensorrt.errors import LogRecorder
from builder.errors import EngineBuildError
from builder.profile import BatchSpec, Int8Spec, Precision
from tests.backends.tensorrt.test_trt_backend import _calibration_images, build_ctx, trt_profile
from tests.backends.tensorrt.trt_fakes import install, make_fake_trt


def _int8_ctx(tmp_path: Path, onnx: Path) -> Any:
    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=2, quantization="calibrator"),
        batch=BatchSpec(1, 1, 1),
    )
    ctx = build_ctx(tmp_path, onnx, profile)
    _calibration_images(ctx)  # bus.jpg, zidane.jpg: two batches of one
    return ctx


def _nothing_published(ctx: Any, tmp_path: Path) -> None:
    assert not (ctx.workdir / "model.plan").exists() and not (ctx.workdir / "calibration.cache").exists()
    assert not list((tmp_path / "cache").rglob("*.cache")), "no keyed calibration cache, no timing cache"
    assert not (ctx.scratch / "calibration.cache").exists()


# --- item 2: a short INT8 calibration is refused ---------------------------------------------------------


def test_any_exception_in_the_calibration_data_refuses_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path
) -> None:
    from builder.yolo import preprocess

    real = preprocess.calibration_batches

    def second_batch_fails(*args: Any, **kw: Any) -> Any:
        for i, array in enumerate(real(*args, **kw)):
            if i == 1:
                raise MemoryError("cannot allocate 4.7 MiB")  # not an ImageError: the trampoline would swallow it
            yield array

    monkeypatch.setattr(preprocess, "calibration_batches", second_batch_fails)
    trt = make_fake_trt("8.6.1.6")
    install(monkeypatch, trt)
    ctx = _int8_ctx(tmp_path, dynamic_onnx)
    with pytest.raises(EngineBuildError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert ("calibrated", [(1, 3, 64, 64)]) in trt.calls  # TensorRT saw one batch, then "no more"
    assert "TensorRT got 1 of 2 calibration batch(es)" in err.value.message
    assert "MemoryError: cannot allocate 4.7 MiB" in err.value.message and "not kept" in err.value.message
    assert err.value.hint
    _nothing_published(ctx, tmp_path)


def test_a_batch_that_never_reached_tensorrt_refuses_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path
) -> None:
    trt = make_fake_trt("10.3.0", copy_fails_at_batch=2)  # Polygraphy swallows the failed copy: no error anywhere
    install(monkeypatch, trt)
    ctx = _int8_ctx(tmp_path, dynamic_onnx)
    with pytest.raises(EngineBuildError, match=r"TensorRT got 1 of 2 calibration batch\(es\) \(1 image\(s\) each\);"):
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert ("get_batch copy failed", 2) in trt.calls and ("calibrated", [(1, 3, 64, 64)]) in trt.calls
    _nothing_published(ctx, tmp_path)


def test_a_full_calibration_is_counted_and_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path
) -> None:
    install(monkeypatch, make_fake_trt("8.6.1.6"))
    ctx = _int8_ctx(tmp_path, dynamic_onnx)
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    assert result.details["calibration"]["batches"] == 2 and (ctx.workdir / "calibration.cache").is_file()


# --- item 3: builds sharing a timing cache overlap, and their entries are combined ---------------------------


def test_two_builds_sharing_a_timing_cache_run_side_by_side_and_combine_entries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, dynamic_onnx: Path
) -> None:
    trt = make_fake_trt("10.3.0")
    trt.build_barrier = threading.Barrier(2, timeout=20)  # both builds must be inside TensorRT at once
    install(monkeypatch, trt)
    shared = tmp_path / "shared-cache"
    jobs = {
        "static": build_ctx(tmp_path / "a", static_onnx, trt_profile(timing_cache="default"), cache_dir=shared),
        "dynamic": build_ctx(
            tmp_path / "b",
            dynamic_onnx,
            trt_profile(timing_cache="default", batch=BatchSpec(1, 2, 4)),
            cache_dir=shared,
        ),
    }
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            results[name] = backend.build(jobs[name], jobs[name].workdir / "model.onnx")
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            results[name] = err

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(not isinstance(r, BaseException) for r in results.values()), results
    cache = shared / "timing-cache" / "default-nvidia-h100-80gb-hbm3-sm90-trt10.3.0.cache"
    assert cache.read_bytes() == b"-1x3x-1x-1;1x3x64x64+entries", "both builds' entries, neither overwritten"
    saved = sorted(r.details["timing_cache"]["saved"] for r in results.values())
    assert saved == ["combined with the entries another build saved meanwhile", "written"]
    combined = [c for c in trt.calls if c[0] == "ITimingCache.combine"]
    assert len(combined) == 1 and combined[0][2] is False  # keyed by GPU model and version: no mismatch ignored


def test_a_cache_tensorrt_cannot_combine_is_replaced_and_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    from builder.backends.tensorrt import plan

    install(monkeypatch, make_fake_trt("10.3.0", cache_ok=False))
    shared = tmp_path / "shared"
    ctx = build_ctx(tmp_path / "a", static_onnx, trt_profile(timing_cache="default"), cache_dir=shared)
    real_read = plan._read_timing_cache

    def read_then_another_build_saves(*args: Any) -> Any:
        path, before = real_read(*args)
        path.write_bytes(b"written-by-another-build")
        return path, before

    monkeypatch.setattr(plan, "_read_timing_cache", read_then_another_build_saves)
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    assert result.details["timing_cache"]["saved"].startswith("replaced: TensorRT could not combine")
    assert Path(result.details["timing_cache"]["path"]).read_bytes() == b"1x3x64x64+entries"


# --- item 8: one TensorRT logger for the process -----------------------------------------------------------


def test_the_plugin_library_keeps_a_logger_that_outlives_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    trt = make_fake_trt("8.6.1.6")
    install(monkeypatch, trt)
    first = build_ctx(tmp_path / "1", static_onnx, trt_profile())
    backend.build(first, first.workdir / "model.onnx")
    gc.collect()
    kept = trt.plugin_logger()
    assert kept is not None, "the logger handed to init_libnvinfer_plugins was freed with the build"
    second = build_ctx(tmp_path / "2", static_onnx, trt_profile())
    backend.build(second, second.workdir / "model.onnx")
    assert trt.plugin_logger() is kept, "one logger for every build"
    log = LogRecorder()
    assert trt_calls.tensorrt_logger(log) is kept
    kept.log(trt.ILogger.Severity.WARNING, "from the plugin library")
    assert log.tail(1) and "from the plugin library" in log.tail(1)[0]


# --- item 6: TensorRT 10 + dynamic-batch INT8 is refused at build time too --------------------------------


def test_int8_with_a_dynamic_batch_is_refused_on_a_tensorrt_10_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path
) -> None:
    """A `tensorrt: "8.6"` profile built in a TensorRT 10 image (``--image``) gets the same answer as validation."""
    from builder.errors import HostEnvironmentError

    trt = make_fake_trt("10.8.0.43")
    install(monkeypatch, trt)
    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=2, quantization="calibrator"),
        batch=BatchSpec(1, 2, 4),
    )
    ctx = build_ctx(tmp_path, dynamic_onnx, profile)
    _calibration_images(ctx)
    with pytest.raises(HostEnvironmentError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert "calibrates INT8 with a dynamic batch (1...4)" in err.value.message
    assert "calibration profile must be set" in err.value.message and "static batch" in (err.value.hint or "")
    assert not [c for c in trt.calls if c[0] == "build_serialized_network"]
