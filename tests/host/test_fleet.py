"""make engines: what this host cannot build is SKIPPED before any image work; one container per GPU in parallel
for TensorRT profiles, CPU profiles one after another; quiet output with a log file per profile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from builder.errors import ExitCode, HostEnvironmentError
from builder.host.fleet import launch_many
from builder.host.fleet_plan import FleetPlan, plan_fleet
from builder.host.progress import ProgressSink, log_path
from builder.host.spec import ContainerSpec, HostSettings
from builder.machine.buildable import BuildHost
from tests.host.fakes import FakeContainer, FakeEngine, lines

GPU_HOST = BuildHost(2, "nvml")
NO_GPU = BuildHost(0, "nvidia-smi: not on PATH")  # what builder.machine.gpu.probe_gpus reports on a GPU-less host


def plan(host: HostSettings, *refs: str, facts: BuildHost = GPU_HOST, named: bool = True) -> FleetPlan:
    return plan_fleet(list(refs), host.profiles_dir, facts, named=named)


def test_tensorrt_profiles_run_in_parallel_one_gpu_each(host: HostSettings, engine: FakeEngine) -> None:
    running: set[str] = set()
    overlap = threading.Event()
    lock = threading.Lock()

    def script(container: FakeContainer) -> Iterator[str]:
        requests = container.spec.device_requests
        gpu = requests[0].device_ids if requests else ()
        with lock:
            running.add(container.spec.labels["engine-foundry.profile"])
            if len(running) > 1:
                overlap.set()
        if gpu:
            overlap.wait(timeout=5)
        yield f"building on {gpu}"
        with lock:
            running.discard(container.spec.labels["engine-foundry.profile"])

    engine.script = script
    out: list[str] = []
    assert launch_many(plan(host, "t4-fp16", "a10-fp16", "tiny-cpu"), host, engine, out.append, gpu_indices=[0, 1]) == 0
    assert overlap.is_set(), "the two TensorRT builds ran at the same time"
    gpus = {c.spec.labels["engine-foundry.profile"]: c.spec.device_requests for c in engine.started}
    assert {r[0].device_ids for p, r in gpus.items() if p != "tiny-cpu"} == {("0",), ("1",)}
    assert gpus["tiny-cpu"] == ()
    assert engine.started[-1].spec.labels["engine-foundry.profile"] == "tiny-cpu", "CPU profiles after the GPU batch"
    assert any(line.startswith("[t4-fp16 gpu") and "building on" in line for line in out)


def test_one_gpu_means_one_at_a_time_and_failures_are_summarized(host: HostSettings, engine: FakeEngine) -> None:
    active = []

    def script(container: FakeContainer) -> Iterator[str]:
        active.append(1)
        assert len(active) == 1
        time.sleep(0.01)
        active.pop()
        yield "done"

    engine.script = script
    engine.exit_code = int(ExitCode.STAGE)
    out: list[str] = []
    assert launch_many(plan(host, "t4-fp16", "tiny-cpu"), host, engine, out.append, gpu_indices=[0]) == ExitCode.STAGE
    assert len(engine.started) == 2 and all(
        c.spec.device_requests in ((), engine.started[0].spec.device_requests) for c in engine.started
    )
    assert out[-3:] == ["summary:", "  t4-fp16: FAILED (exit 4)", "  tiny-cpu: FAILED (exit 4)"]


def test_a_profile_error_in_one_build_does_not_stop_the_others(
    host: HostSettings, engine: FakeEngine, tmp_path: Path
) -> None:
    out: list[str] = []
    code = launch_many(plan(host, "tiny-cpu", "t4-fp16"), host, engine, out.append, gpu_indices=[])
    assert code == 0 and len(engine.started) == 2


def test_a_failed_start_is_escaped_error_lines_and_the_others_go_on(host: HostSettings, engine: FakeEngine) -> None:
    def on_run(spec: ContainerSpec) -> None:
        if spec.labels["engine-foundry.profile"] == "t4-fp16":
            raise HostEnvironmentError("no GPU for the container:\nforged", hint="install the toolkit\x1b[2K")

    engine.on_run = on_run
    out: list[str] = []
    errors: list[str] = []
    code = launch_many(
        plan(host, "t4-fp16", "a10-fp16"), host, engine, out.append, gpu_indices=[0, 1], error_sink=errors.append
    )
    assert code == ExitCode.ENVIRONMENT
    gpu = errors[0].split("]")[0] + "]"
    assert gpu.startswith("[t4-fp16 gpu")
    assert errors == [f"{gpu} ERROR no GPU for the container:\\nforged", f"{gpu} TIP install the toolkit\\x1b[2K"]
    assert out[-2:] == ["  t4-fp16: FAILED (exit 3)", "  a10-fp16: ok"]
    assert not any(" ERROR " in line or " TIP " in line for line in out)

    errors.clear()
    code = launch_many(plan(host, "t4-fp16"), host, engine, out.append, gpu_indices=[0], error_sink=errors.append)
    assert code == ExitCode.ENVIRONMENT
    assert errors == ["ERROR no GPU for the container:\\nforged", "TIP install the toolkit\\x1b[2K"]


REASON = "the tensorrt backend needs an NVIDIA GPU and this host has none (nvidia-smi: not on PATH)"


def test_a_mixed_list_on_a_gpu_less_host_skips_the_tensorrt_profile_up_front_and_builds_the_rest(
    host: HostSettings, engine: FakeEngine
) -> None:
    del engine.images["engine-foundry:trt"]  # any image work for the TensorRT profile would build or pull it
    out: list[str] = []
    errors: list[str] = []
    mixed = plan(host, "tiny-cpu", "a10-fp16", facts=NO_GPU)
    code = launch_many(mixed, host, engine, out.append, gpu_indices=[], error_sink=errors.append)
    assert out[0] == f"SKIPPED a10-fp16: {REASON}", "said before anything else"
    assert [c.spec.labels["engine-foundry.profile"] for c in engine.started] == ["tiny-cpu"]
    assert engine.builds == [] and engine.pulls == []
    assert out[-3:] == ["summary:", "  tiny-cpu: ok", f"  a10-fp16: SKIPPED ({REASON})"]
    assert code == ExitCode.ENVIRONMENT, "a profile the user named was not built"
    assert errors[0] == f"ERROR not built on this host: a10-fp16 ({REASON})"
    assert errors[1].startswith("TIP ") and "doctor" in errors[1] and "without PROFILES" in errors[1]


def test_the_default_list_skips_what_this_host_cannot_build_and_succeeds(
    host: HostSettings, engine: FakeEngine
) -> None:
    del engine.images["engine-foundry:trt"]
    out: list[str] = []
    errors: list[str] = []
    every = plan(host, "tiny-cpu", "a10-fp16", "t4-fp16", facts=NO_GPU, named=False)
    assert launch_many(every, host, engine, out.append, gpu_indices=[], error_sink=errors.append) == 0
    assert out[:2] == [f"SKIPPED a10-fp16: {REASON}", f"SKIPPED t4-fp16: {REASON}"]
    assert errors == [] and engine.builds == [] and len(engine.started) == 1


def test_a_failed_build_outranks_the_skipped_profiles_exit_code(host: HostSettings, engine: FakeEngine) -> None:
    engine.exit_code = int(ExitCode.STAGE)
    errors: list[str] = []
    mixed = plan(host, "tiny-cpu", "a10-fp16", facts=NO_GPU)
    assert launch_many(mixed, host, engine, [].append, gpu_indices=[], error_sink=errors.append) == ExitCode.STAGE
    assert not any(line.startswith("ERROR not built") for line in errors)


def test_nothing_buildable_is_exit_3_naming_each_profile_and_why(host: HostSettings) -> None:
    with pytest.raises(HostEnvironmentError) as caught:
        plan(host, "a10-fp16", "t4-fp16", facts=NO_GPU)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT
    assert caught.value.message == f"this host can build none of the profiles (a10-fp16: {REASON}; t4-fp16: {REASON})"
    assert "doctor" in (caught.value.hint or "")


def test_parallel_builds_are_quiet_prefixed_and_log_everything_to_their_own_file(
    host: HostSettings, engine: FakeEngine
) -> None:
    engine.script = lines("[export] started", "[I] a Polygraphy dump", "hint: a temporary path", "[export] ok in 0.1s")
    out: list[str] = []
    stamp = datetime(2026, 11, 29, 23, 0, tzinfo=timezone.utc)

    def logs(name: str, terminal: Callable[[str], None]) -> ProgressSink:
        return ProgressSink(log_path(host.artifacts_dir, name, stamp), out=terminal)

    pair = plan(host, "t4-fp16", "a10-fp16")
    assert launch_many(pair, host, engine, out.append, gpu_indices=[0, 1], logs=logs) == 0
    summary = out.index("summary:")
    assert all(line.startswith(("[t4-fp16 gpu", "[a10-fp16 gpu")) for line in out[:summary]), out
    for name in ("t4-fp16", "a10-fp16"):
        shown = [line.split("] ", 1)[1] for line in out[:summary] if line.startswith(f"[{name} gpu")]
        log = log_path(host.artifacts_dir, name, stamp)
        assert "[export] ok in 0.1s" in shown and f"full log: {log} (-v shows it live)" in shown
        assert not {"[export] started", "[I] a Polygraphy dump", "hint: a temporary path"} & set(shown)
        assert {"[export] started", "[I] a Polygraphy dump", "[export] ok in 0.1s"} <= set(log.read_text().splitlines())


def test_engines_cli_skips_up_front_builds_the_rest_quietly_and_v_shows_the_log(
    host: HostSettings, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from builder.cli import main
    from builder.host import commands

    monkeypatch.setattr(BuildHost, "probe", classmethod(lambda cls, **_: NO_GPU))
    monkeypatch.setattr(commands, "_docker", lambda: engine)
    engine.script = lines("[export] started", "[I] a Polygraphy dump", "[export] ok in 0.1s")
    folders = ["--profiles-dir", str(host.profiles_dir), "--artifacts", str(host.artifacts_dir)]
    folders += ["--models", str(host.models_dir), "--cache-dir", str(host.cache_dir)]
    assert main(["engines", "--profiles", "tiny-cpu", "a10-fp16", *folders]) == ExitCode.ENVIRONMENT
    captured = capsys.readouterr()
    stdout = captured.out.splitlines()
    assert stdout[0] == f"SKIPPED a10-fp16: {REASON}"
    assert "[export] ok in 0.1s" in stdout and "[I] a Polygraphy dump" not in stdout
    assert any(line.startswith(f"full log: {host.artifacts_dir / 'tiny-cpu' / 'logs'}") for line in stdout)
    assert captured.err.splitlines()[0] == f"ERROR not built on this host: a10-fp16 ({REASON})"

    assert main(["engines", "--profiles", "tiny-cpu", "-v", "--force", *folders]) == 0
    assert "[I] a Polygraphy dump" in capsys.readouterr().out.splitlines()


def test_engines_cli_with_nothing_buildable_asks_docker_nothing(
    host: HostSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from builder.cli import main
    from builder.host import commands

    monkeypatch.setattr(BuildHost, "probe", classmethod(lambda cls, **_: NO_GPU))
    monkeypatch.setattr(commands, "_docker", lambda: pytest.fail("Docker was asked although nothing can be built"))
    assert main(["engines", "--profiles", "a10-fp16", "--profiles-dir", str(host.profiles_dir)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"ERROR this host can build none of the profiles (a10-fp16: {REASON})"
    assert err[1].startswith("TIP ") and "nvcr.io" not in "".join(err)
