"""``frozen``: a TensorRT 10 build from a committed timing cache with ERROR_ON_TIMING_CACHE_MISS, writing no cache.

The TensorRT facts come from TensorRT 10's ``NvInfer.h`` (``BuilderFlag::kERROR_ON_TIMING_CACHE_MISS = 16``: "Emit
error when a tactic being timed is not present in the timing cache. This flag has an effect only when
IBuilderConfig has an associated ITimingCache") and tensorrt-stubs 10.13 (``BuilderFlag.ERROR_ON_TIMING_CACHE_MISS``,
``IBuilderConfig.builder_optimization_level``); the recording fake (trt_fakes.py) fails a build whose cache lacks the
entry it would time, as that flag says. No GPU here: untried on real TensorRT.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from builder.backends.tensorrt.settings import FROZEN_FLAG, build_settings_from_profile
from builder.backends.tensorrt.versions import parse_trt_version
from builder.errors import EngineBuildError, HostEnvironmentError, ProfileError
from builder.profile import Backend, load_profile
from builder.record.buildkey import FROZEN_INPUT, data_digests
from tests.backends.tensorrt.test_trt_backend import _calls, build_ctx, run_build, trt_profile
from tests.backends.tensorrt.trt_fakes import H100, install, make_fake_trt

COMMITTED = "timing-caches/yolo-h100-trt10.cache"
ENTRY = b"1x3x64x64+entries"  # what the fake's build of the static (1, 3, 64, 64) export times


def frozen_profile(**kw: Any) -> Any:
    return trt_profile(tensorrt="10", frozen=COMMITTED, **kw)


def test_settings_set_the_flag_on_10_and_refuse_older_tensorrt() -> None:
    on_10 = build_settings_from_profile(frozen_profile(), parse_trt_version("10.8.0.43"), H100)
    assert FROZEN_FLAG in on_10.builder_flags and on_10.builder_optimization_level == 3
    plain = build_settings_from_profile(trt_profile(tensorrt="10"), parse_trt_version("10.8.0.43"), H100)
    assert FROZEN_FLAG not in plain.builder_flags
    with pytest.raises(HostEnvironmentError, match="needs TensorRT 10 or newer"):
        build_settings_from_profile(frozen_profile(), parse_trt_version("8.6.1.6"), H100)


@pytest.mark.parametrize(
    "extra, problem",
    [
        ('tensorrt: "10"\ntiming_cache: off\n', None),
        ("timing_cache: off\n", "frozen: needs TensorRT 10 or newer"),
        ('tensorrt: "8.6"\ntiming_cache: off\n', "frozen: needs TensorRT 10 or newer"),
        ('tensorrt: "10"\n', "timing_cache: cannot be combined with frozen"),  # _tensorrt-base says `on`
        ('tensorrt: "10"\ntiming_cache: off\nfrozen: ../x.cache\n', "must not contain '..'"),
        ('tensorrt: "10"\ntiming_cache: off\nfrozen: x.bin\n', "must name a TensorRT timing cache file"),
    ],
)
def test_profile_rules(tmp_path: Path, extra: str, problem: str | None) -> None:
    for source in Path("profiles").glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text())
    frozen = "" if "frozen:" in extra else f"frozen: {COMMITTED}\n"
    (tmp_path / "f.yaml").write_text(f"name: f\nextends: a10-fp16\n{frozen}{extra}")
    if problem is None:
        assert load_profile("f", tmp_path).frozen == COMMITTED
        return
    with pytest.raises(ProfileError) as err:
        load_profile("f", tmp_path)
    assert any(problem in str(e) for e in err.value.errors), err.value.errors


def test_the_committed_cache_is_a_build_key_input(tmp_path: Path) -> None:
    profile = dataclasses.replace(frozen_profile(), backend=Backend.TENSORRT)
    assert FROZEN_INPUT not in data_digests(profile, tmp_path)  # missing: the build stage refuses, named
    (tmp_path / COMMITTED).parent.mkdir(parents=True)
    (tmp_path / COMMITTED).write_bytes(ENTRY)
    first = data_digests(profile, tmp_path)[FROZEN_INPUT]
    (tmp_path / COMMITTED).write_bytes(ENTRY + b";2x3x64x64")
    assert data_digests(profile, tmp_path)[FROZEN_INPUT] != first
    assert FROZEN_INPUT not in data_digests(trt_profile(tensorrt="10"), tmp_path)


def _commit(ctx: Any, data: bytes) -> Path:
    path = ctx.models_dir / COMMITTED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_frozen_build_reads_the_committed_cache_and_writes_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    trt = make_fake_trt("10.8.0")
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, frozen_profile(builder_optimization_level=4), cache_dir=tmp_path / "cache")
    committed = _commit(ctx, ENTRY)
    result = run_build(ctx)
    assert ("config.set_flag", FROZEN_FLAG) in trt.calls
    assert ("config.builder_optimization_level", 4) in trt.calls
    assert [c[1] for c in _calls(trt, "config.set_timing_cache")] == [ENTRY]
    assert committed.read_bytes() == ENTRY and not (tmp_path / "cache" / "timing-cache").exists()
    cache = result.details["timing_cache"]
    assert cache["frozen"] is True and cache["status"] == "loaded" and cache["reuse"].startswith("warm")
    assert cache["path"] == str(committed) and "saved" not in cache


@pytest.mark.parametrize(
    "cache, fake, message",
    [
        (None, {}, "committed timing cache .* is missing"),
        (b"", {}, "committed timing cache .* is empty"),
        (b"2x3x64x64+entries", {}, "timing cache miss: 1x3x64x64"),  # TensorRT would have to time a tactic
        (ENTRY, {"cache_ok": False}, "TensorRT rejected the committed timing cache"),  # other GPU or version
    ],
)
def test_frozen_build_refuses_what_it_cannot_take_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    static_onnx: Path,
    cache: bytes | None,
    fake: dict[str, Any],
    message: str,
) -> None:
    install(monkeypatch, make_fake_trt("10.8.0", **fake))
    ctx = build_ctx(tmp_path, static_onnx, frozen_profile())
    if cache is not None:
        _commit(ctx, cache)
    with pytest.raises(EngineBuildError, match=message):
        run_build(ctx)
