"""The backend seam: check_available (for real: this host has no TensorRT), and build / make_runner / benchmark
driven through a recording fake ``tensorrt`` shaped like 8.6, 10.x and 11.x (trt_fakes.py)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import builder.backends.tensorrt as backend
from builder.backends.registry import get_backend
from builder.backends.tensorrt import trt_calls
from builder.errors import EngineBuildError, ExitCode, HostEnvironmentError
from builder.pipeline.stage_types import ArtifactOut, BuildResult, ExportResult, StageContext, StageResult, TensorSpec
from builder.pipeline.stages import build as build_stage
from builder.profile import Backend, BatchSpec, Int8Spec, OutputsSpec, Precision, TargetSpec
from builder.yolo.preprocess import ultralytics_assets
from builder.yolo.shapes import input_shape
from tests.backends.tensorrt.trt_fakes import H100, LAYERS, PLAN, install, make_fake_trt
from tests.pipeline.stages.helpers import make_ctx
from tests.support import make_profile


def trt_profile(**kw: Any):
    return make_profile(**{"backend": Backend.TENSORRT, "name": "yolo-trt", **kw})


def _real_tensorrt() -> bool:
    try:
        trt_calls.import_tensorrt()
        return True
    except ImportError:
        return False


def build_ctx(
    tmp_path: Path, onnx: Path, profile: Any, *, cache: bool = True, cache_dir: Path | None = None
) -> StageContext:
    """A build context holding a copy of ``onnx`` as the export stage's result; log lines in ``logs(ctx)``."""
    root = tmp_path / "run"
    for sub in ("build", "scratch", "models"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, root / "build" / "model.onnx")
    onnx_out = ArtifactOut("model.onnx", "onnx")
    handed = ExportResult(
        onnx_out, TensorSpec("images", input_shape(profile, profile.batch.opt), "float32"), (), (), 32, "detect"
    )
    export = StageResult(artifacts=(onnx_out,), output=handed)
    lines: list[str] = []
    return StageContext(
        profile,
        root / "build",
        root / "scratch",
        root / "models",
        (cache_dir or tmp_path / "cache") if cache else None,
        lines.append,
        {"export": export},
    )


def logs(ctx: StageContext) -> list[str]:
    return ctx.log.__self__  # type: ignore[attr-defined]  # the list whose append is the logger


# --- check_available ------------------------------------------------------------------------------------


@pytest.mark.skipif(_real_tensorrt(), reason="TensorRT is installed here; this checks the error without it")
def test_missing_tensorrt_is_one_clear_error_through_the_build_stage(tmp_path: Path, static_onnx: Path) -> None:
    profile = trt_profile(name="yolo11n-fp16", precision=Precision.FP16)
    ctx = build_ctx(tmp_path, static_onnx, profile)
    with pytest.raises(HostEnvironmentError) as err:
        build_stage.run(ctx)  # the real stage: registry -> backend.check_available
    message, hint = err.value.message, err.value.hint or ""
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    assert message.startswith("profile 'yolo11n-fp16' (backend tensorrt) cannot be built here:")
    assert "the TensorRT Python package cannot be imported" in message
    assert "make image FLAVOUR=trt" in hint and "nvcr.io/nvidia/tensorrt:23.08-py3" in hint
    if shutil.which("nvidia-smi") is None:
        assert "no NVIDIA GPU is visible" in message and "--gpus all" in hint
    assert not (ctx.workdir / "model.plan").exists()
    assert get_backend("tensorrt") is backend and backend.NAME == "tensorrt"


@pytest.mark.skipif(_real_tensorrt(), reason="TensorRT is installed here; this checks the error without it")
@pytest.mark.parametrize(
    "tensorrt, flavour, base",
    [
        (None, "trt", "nvcr.io/nvidia/tensorrt:23.08-py3"),  # the default family, 8.6
        ("8.6", "trt", "nvcr.io/nvidia/tensorrt:23.08-py3"),
        ("10", "trt10", "nvcr.io/nvidia/tensorrt:25.01-py3"),  # h100-fp8, b200-fp16: the 8.6 image cannot build them
    ],
)
def test_without_tensorrt_the_tip_names_the_profiles_own_image(tensorrt: str | None, flavour: str, base: str) -> None:
    profile = trt_profile(name="p", precision=Precision.FP16, **({"tensorrt": tensorrt} if tensorrt else {}))
    with pytest.raises(HostEnvironmentError) as err:
        backend.check_available(profile)
    assert f"`make image FLAVOUR={flavour}` (base {base}" in (err.value.hint or "")


def test_only_the_gpu_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, make_fake_trt("8.6.1.6"), gpus=())
    with pytest.raises(HostEnvironmentError) as err:
        backend.check_available(trt_profile())
    assert "no NVIDIA GPU is visible (NVML: no driver)" in err.value.message
    assert "TensorRT Python package" not in err.value.message and "make image" not in (err.value.hint or "")


def test_cuda_visible_devices_hiding_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, make_fake_trt("10.3.0"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(HostEnvironmentError, match="CUDA_VISIBLE_DEVICES='3' selects none of 1 GPU"):
        backend.check_available(trt_profile())


def test_facts_and_version_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, make_fake_trt("8.6.1.6"))
    facts = backend.check_available(trt_profile(precision=Precision.FP16)).facts()
    assert facts["tensorrt"] == "8.6.1.6" and facts["tensorrt_family"] == "8.6" and facts["gpu_discovery"] == "nvml"
    assert facts["gpu"] == H100.to_dict() and facts["gpus"] == [H100.to_dict()] and facts["target_match"] == "no target"
    assert facts["polygraphy"] and "trtexec" in facts
    install(monkeypatch, make_fake_trt("11.0.0.114"))
    with pytest.raises(HostEnvironmentError, match="removed it: networks are always strongly typed"):
        backend.check_available(
            trt_profile(precision=Precision.INT8, int8=Int8Spec(data="c", quantization="calibrator"))
        )
    assert backend.check_available(trt_profile(precision=Precision.FP32)).facts()["tensorrt_family"] == "11"
    with pytest.raises(HostEnvironmentError, match="targets GPU 'A10'"):
        backend.check_available(trt_profile(target=TargetSpec(gpu="A10")))


# --- build: call sequence per version -------------------------------------------------------------------


def _calls(trt: Any, name: str) -> list[tuple[Any, ...]]:
    return [c for c in trt.calls if c[0] == name]


@pytest.mark.parametrize("version, network_flags", [("8.6.1.6", 1), ("10.3.0", 0)])
def test_fp16_build_on_86_and_10(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, version: str, network_flags: int
) -> None:
    trt = make_fake_trt(version)
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(precision=Precision.FP16, workspace=1 << 30))
    result = backend.build(ctx, ctx.workdir / "model.onnx")

    assert _calls(trt, "create_network") == [("create_network", network_flags)]
    assert _calls(trt, "init_libnvinfer_plugins") == [("init_libnvinfer_plugins", "")]
    assert _calls(trt, "config.set_flag") == [("config.set_flag", "FP16")]
    assert _calls(trt, "config.clear_flag") == [("config.clear_flag", "TF32")]
    assert _calls(trt, "config.set_memory_pool_limit") == [("config.set_memory_pool_limit", "WORKSPACE", 1 << 30)]
    assert ("config.profiling_verbosity", "DETAILED") in trt.calls and (
        "config.builder_optimization_level",
        3,
    ) in trt.calls
    assert ("config.hardware_compatibility_level", "NONE") in trt.calls
    assert not _calls(trt, "config.add_optimization_profile")  # a static network takes no profile
    assert _calls(trt, "deserialize_cuda_engine") == [("deserialize_cuda_engine", PLAN, True)]
    assert not _calls(trt, "config.set_calibration_profile") and not _calls(trt, "parser.set_flag")
    order = [c[0] for c in trt.calls]
    assert order.index("parse_from_file") < order.index("config.set_flag") < order.index("build_serialized_network")

    assert [(a.path, a.kind) for a in result.artifacts] == [("model.plan", "model"), ("layers.json", "layers")]
    assert (ctx.workdir / "model.plan").read_bytes() == PLAN and not (ctx.workdir / "model.engine").exists()
    assert json.loads((ctx.workdir / "layers.json").read_text()) == LAYERS
    details = result.details
    assert json.loads(json.dumps(details)) == details  # JSON-able, recorded verbatim
    assert details["settings"]["builder_flags"] == ["FP16"] and details["tensorrt"] == version
    assert (
        details["plan"]["size"] == len(PLAN) and details["layers"] == 1 and details["timing_cache"] == {"status": "off"}
    )
    assert details["onnx"]["opset"] == 17 and details["onnx"]["input"] == ["images", [1, 3, 64, 64]]
    assert any(line.startswith(f"build: TensorRT {version} on NVIDIA H100") for line in logs(ctx))


def test_fp32_build_on_11_touches_no_removed_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    trt = make_fake_trt("11.0.0.114")  # no EXPLICIT_BATCH, FP16, INT8, calibrators: touching them raises
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(tf32=True))
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    assert _calls(trt, "create_network") == [("create_network", 0)] and _calls(trt, "config.set_flag") == [
        ("config.set_flag", "TF32")
    ]
    assert result.details["features"]["precision_flags"] is False


def run_build(ctx: StageContext) -> StageResult:
    return backend.build(ctx, ctx.workdir / "model.onnx")


def test_timing_cache_is_created_then_reused_then_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    install(monkeypatch, make_fake_trt("10.3.0"))
    profile, shared = trt_profile(timing_cache="default"), tmp_path / "shared-cache"
    first = run_build(build_ctx(tmp_path / "1", static_onnx, profile, cache_dir=shared))
    path = Path(first.details["timing_cache"]["path"])
    assert path == shared / "timing-cache" / "default-nvidia-h100-80gb-hbm3-sm90-trt10.3.0.cache"
    assert path.read_bytes() == b"1x3x64x64+entries"  # the fake's entry for the layers it timed
    assert first.details["timing_cache"]["status"] == "new" and first.details["timing_cache"]["growth_bytes"] == 17

    second = run_build(build_ctx(tmp_path / "2", static_onnx, profile, cache_dir=shared))
    assert second.details["timing_cache"]["status"] == "loaded" and second.details["timing_cache"]["reuse"].startswith(
        "warm"
    )

    trt = make_fake_trt("10.3.0", cache_ok=False)
    install(monkeypatch, trt)
    third = run_build(build_ctx(tmp_path / "3", static_onnx, profile, cache_dir=shared))
    assert third.details["timing_cache"]["status"] == "rejected"
    assert [c[1] for c in _calls(trt, "config.set_timing_cache")] == [b"1x3x64x64+entries", b""]

    no_folder = run_build(build_ctx(tmp_path / "4", static_onnx, profile, cache=False))
    assert (
        no_folder.details["timing_cache"]["status"] == "new" and no_folder.details["timing_cache"]["path"] == "(memory)"
    )


def test_ultralytics_engine_is_an_extra_file_with_a_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    from ultralytics.nn.backends.base import BaseBackend

    install(monkeypatch, make_fake_trt("8.6.1.6"))
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(outputs=OutputsSpec(ultralytics_engine=True)))
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    assert (
        result.artifact("ultralytics-engine").path == "model.engine" and result.artifact("model").path == "model.plan"
    )
    offset, meta = BaseBackend.engine_header(ctx.workdir / "model.engine")
    assert (ctx.workdir / "model.engine").read_bytes()[offset:] == PLAN == (ctx.workdir / "model.plan").read_bytes()
    assert meta["engine_foundry_profile"] == "yolo-trt" and meta["task"] == "detect"
    runner = backend.make_runner(ctx.workdir / "model.engine", ctx.profile)
    assert type(runner).__name__ == "TrtRunner" and runner._engine_or_context._serialized_engine == PLAN


def _calibration_images(ctx: StageContext) -> Path:
    folder = ctx.models_dir / "calib"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("bus.jpg", "zidane.jpg"):
        shutil.copyfile(ultralytics_assets() / name, folder / name)
    return folder


@pytest.mark.parametrize("version, calibration_profile", [("8.6.1.6", True)])  # 10.x: refused (dynamic batch)
def test_int8_calibrates_once_then_reuses_then_refuses_a_stale_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path, version: str, calibration_profile: bool
) -> None:
    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=2, quantization="calibrator"),
        batch=BatchSpec(1, 2, 4),
    )
    trt = make_fake_trt(version)
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, dynamic_onnx, profile)
    folder = _calibration_images(ctx)
    first = backend.build(ctx, ctx.workdir / "model.onnx")
    assert _calls(trt, "calibrated") == [("calibrated", [(2, 3, 64, 64)])]
    assert _calls(trt, "config.add_optimization_profile") == [
        ("config.add_optimization_profile", {"images": ((1, 3, 64, 64), (2, 3, 64, 64), (4, 3, 64, 64))})
    ]
    assert bool(_calls(trt, "config.set_calibration_profile")) is calibration_profile
    assert _calls(trt, "config.set_flag") == [
        ("config.set_flag", "INT8"),
        ("config.set_flag", "FP16"),
        ("config.set_flag", "OBEY_PRECISION_CONSTRAINTS"),
    ]
    assert first.details["layer_precisions"]["flag"] == "OBEY_PRECISION_CONSTRAINTS"
    assert ("IInt8Calibrator.__init__", "IInt8MinMaxCalibrator") in trt.calls
    calib = first.details["calibration"]
    assert (
        calib["status"] == "calibrated" and calib["key"]["files"] == ["bus.jpg", "zidane.jpg"] and calib["batches"] == 1
    )
    assert first.artifact("calibration-cache").path == "calibration.cache"
    cache = Path(calib["cache"])
    assert cache.read_bytes().startswith(b"TRT-8601-MinMaxCalibration")
    assert json.loads(Path(str(cache) + ".key.json").read_text()) == calib["key"]

    trt2 = make_fake_trt(version)
    install(monkeypatch, trt2)
    second = backend.build(ctx, ctx.workdir / "model.onnx")
    assert second.details["calibration"]["status"] == "reused cache" and _calls(trt2, "calibration cache read")
    assert second.details["calibration"]["batches"] == 0
    assert not _calls(trt2, "calibrated")

    (folder / "bus.jpg").write_bytes((folder / "zidane.jpg").read_bytes())
    with pytest.raises(EngineBuildError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert "made for other inputs" in err.value.message and "data_sha256" in err.value.message

    off = replace(
        ctx, profile=replace(profile, int8=Int8Spec(data="calib", samples=2, cache="off", quantization="calibrator"))
    )
    assert backend.build(off, off.workdir / "model.onnx").details["calibration"]["status"] == "cache off"


def test_an_unreadable_calibration_image_is_the_reported_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dynamic_onnx: Path
) -> None:
    from builder.yolo.preprocess import ImageError

    install(monkeypatch, make_fake_trt("8.6.1.6"))
    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=2, quantization="calibrator"),
        batch=BatchSpec(1, 1, 1),
    )
    ctx = build_ctx(tmp_path, dynamic_onnx, profile)
    folder = _calibration_images(ctx)
    (folder / "zidane.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(ImageError, match="zidane.jpg could not be decoded"):
        run_build(ctx)
    assert not (tmp_path / "cache" / "calibration").exists() and not (ctx.workdir / "model.plan").exists()


# --- build: failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version, node_name", [("8.6.1.6", False), ("10.3.0", True)])
def test_parse_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, version: str, node_name: bool
) -> None:
    install(monkeypatch, make_fake_trt(version, parse_ok=False))
    ctx = build_ctx(tmp_path, static_onnx, trt_profile())
    with pytest.raises(EngineBuildError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert (
        "ONNX parser rejected" in err.value.message
        and "[UNSUPPORTED_NODE] No importer registered for op: FancyOp" in err.value.message
    )
    assert ("'/model.22/fancy_0' (FancyOp)" in err.value.message) is node_name
    assert "While parsing node number 41" in err.value.message and not (ctx.workdir / "model.plan").exists()


def test_build_returning_none_reports_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    install(monkeypatch, make_fake_trt("8.6.1.6", build_ok=False))
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(timing_cache="default"))
    with pytest.raises(EngineBuildError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert (
        "build_serialized_network returned no plan" in err.value.message
        and "out of memory on tactic" in err.value.message
    )
    assert "workspace" in (err.value.hint or "") and not (ctx.workdir / "model.plan").exists()
    assert not list((tmp_path / "cache" / "timing-cache").glob("*.cache"))  # nothing saved from a failed build


def test_onnx_problems_are_refused_before_tensorrt_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    import onnx

    trt = make_fake_trt("8.6.1.6")
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(batch=BatchSpec(1, 2, 4)))
    with pytest.raises(EngineBuildError, match="fixed batch of 1"):
        backend.build(ctx, ctx.workdir / "model.onnx")
    model = onnx.load(str(static_onnx))
    next(o for o in model.opset_import if o.domain in ("", "ai.onnx")).version = 18
    onnx.save(model, str(ctx.workdir / "model.onnx"))
    with pytest.raises(EngineBuildError, match="supports opsets up to 17"):
        backend.build(replace(ctx, profile=trt_profile()), ctx.workdir / "model.onnx")
    assert not _calls(trt, "create_network")


# --- benchmark --------------------------------------------------------------------------------------------


def _built_plan() -> BuildResult:
    """The build stage's hand-off for a plan whose input is ``images``."""

    class Unread:  # the benchmark does not read the host facts
        def facts(self) -> dict[str, Any]:
            return {}

    return BuildResult(ArtifactOut("model.plan", "model"), "images", Unread())


NOISE_KEYS = {"samples", "budget_s", "max_iterations", "round_p50_ms", "p50_spread", "load_per_cpu", "threads"}


def test_benchmark_with_trtexec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = Path(__file__).parent / "data"
    tool = tmp_path / "bin" / "trtexec"
    tool.parent.mkdir()
    # like trtexec: the log on stdout, every timed run into the --exportTimes file
    tool.write_text(
        f"#!/bin/sh\necho \"$@\" > '{tmp_path / 'args.txt'}'\n"
        f'for a in "$@"; do case "$a" in --exportTimes=*) cp \'{data / "trtexec-10.x-dynamic-times.json"}\' '
        f"\"${{a#--exportTimes=}}\";; esac; done\ncat '{data / 'trtexec-10.x-dynamic.txt'}'\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    profile = trt_profile(batch=BatchSpec(1, 4, 8))
    ctx = make_ctx(profile, tmp_path / "run")
    numbers = backend.benchmark(ctx, _built_plan())
    assert (
        numbers["method"] == "trtexec"
        and numbers["batch"] == 4
        and numbers["throughput_ips"] == pytest.approx(4 * 708.155)
    )
    assert numbers["latency_ms"]["p50"] == 1.40906 and numbers["trtexec_tensorrt"] == "10.3.0"
    args = (tmp_path / "args.txt").read_text().split()
    assert "--shapes=images:4x3x64x64" in args and f"--exportTimes={ctx.scratch / 'trtexec-times.json'}" in args
    budget = profile.benchmark.budget_s
    assert {"--warmUp=200", "--iterations=3", f"--duration={budget - 0.2:g}"} <= set(args), "the budget decides"
    assert numbers["command"][0] == str(tool) and (ctx.scratch / "trtexec.log").is_file()
    assert NOISE_KEYS <= set(numbers) and numbers["samples"] == numbers["iterations"] == 100
    assert numbers["budget_s"] == budget and numbers["max_iterations"] == profile.benchmark.iterations
    assert len(numbers["round_p50_ms"]) == 5 and 0 <= numbers["p50_spread"] < 0.1 and numbers["threads"] >= 1


def test_benchmark_falls_back_to_trtrunner_without_trtexec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from builder.backends.tensorrt import trtexec

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(trtexec, "TRTEXEC_PATHS", ())
    seen: dict[str, Any] = {}

    def timed(plan: bytes, shape: tuple[int, ...], warmup: int, iterations: int, budget_s: float) -> list[float]:
        seen.update(plan=plan, shape=shape, warmup=warmup, iterations=iterations, budget_s=budget_s)
        return [2.0, 1.0, 3.0, 4.0]

    monkeypatch.setattr(trt_calls, "time_with_trt_runner", timed)
    profile = trt_profile()
    ctx = make_ctx(profile, tmp_path / "run")
    (ctx.workdir / "model.plan").write_bytes(PLAN)
    numbers = backend.benchmark(ctx, _built_plan())
    assert seen == {"plan": PLAN, "shape": (1, 3, 64, 64), "warmup": 1, "iterations": 3, "budget_s": 3.0}
    assert numbers["method"] == "polygraphy-trtrunner" and "trtexec not found" in numbers["reason"]
    assert numbers["latency_ms"]["min"] == 1.0 and numbers["latency_ms"]["max"] == 4.0 and numbers["batch"] == 1
    assert NOISE_KEYS <= set(numbers) and numbers["samples"] == 4 and numbers["round_p50_ms"] == [2.0, 1.0, 3.0, 4.0]


class FakeTrtRunner:
    """Polygraphy's TrtRunner as ``time_with_trt_runner`` uses it (polygraphy 0.53.6, ``backend/base/runner.py``:
    ``get_input_metadata``, ``infer``, ``last_inference_time`` in seconds); each inference advances a fake clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.now, self.calls = seconds, 0.0, 0

    def __enter__(self) -> FakeTrtRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get_input_metadata(self, use_numpy_dtypes: bool = True) -> dict[str, Any]:
        return {"images": None}

    def infer(self, feed: dict[str, Any]) -> dict[str, Any]:
        assert feed["images"].shape == (1, 3, 64, 64)
        self.now += self.seconds
        self.calls += 1
        return {}

    def last_inference_time(self) -> float:
        return self.seconds

    def clock(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "budget_s", "warmups", "timed"),
    [
        (0.4, 3.0, 2, 6),  # budget: warm-up to 0.8 s, then runs until 3.2 s >= 3 s
        (2.0, 3.0, 1, 5),  # slow: warm-up stops past half the budget; the 5-run floor
        (0.001, 3.0, 2, 50),  # fast: iterations stop it
        (0.4, 0.0, 2, 50),  # no budget: the count decides
    ],
)
def test_trtrunner_timing_stops_at_iterations_or_the_budget(
    monkeypatch: pytest.MonkeyPatch, seconds: float, budget_s: float, warmups: int, timed: int
) -> None:
    runner = FakeTrtRunner(seconds)
    monkeypatch.setattr(trt_calls, "trt_runner", lambda plan: runner)
    times = trt_calls.time_with_trt_runner(PLAN, (1, 3, 64, 64), 2, 50, budget_s, clock=runner.clock)
    assert times == [seconds * 1000.0] * timed and runner.calls == warmups + timed


def test_the_package_keeps_the_protocol_functions_after_every_submodule_loads() -> None:
    import importlib
    import inspect
    import pkgutil

    for module in pkgutil.iter_modules(backend.__path__):
        importlib.import_module(
            f"{backend.__name__}.{module.name}"
        )  # a submodule named like a function would replace it
    for name in ("check_available", "build", "make_runner", "benchmark"):
        assert inspect.isfunction(getattr(backend, name)), name
    assert isinstance(backend.NAME, str)
