"""launch_many: one container per GPU in parallel for TensorRT profiles, CPU profiles one after another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from builder.errors import ExitCode, HostEnvironmentError
from builder.host.fleet import launch_many
from builder.host.spec import ContainerSpec, HostSettings
from tests.host.fakes import FakeContainer, FakeEngine


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
    assert launch_many(["t4-fp16", "a10-fp16", "tiny-cpu"], host, engine, out.append, gpu_indices=[0, 1]) == 0
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
    assert launch_many(["t4-fp16", "tiny-cpu"], host, engine, out.append, gpu_indices=[0]) == ExitCode.STAGE
    assert len(engine.started) == 2 and all(
        c.spec.device_requests in ((), engine.started[0].spec.device_requests) for c in engine.started
    )
    assert out[-3:] == ["summary:", "  t4-fp16: FAILED (exit 4)", "  tiny-cpu: FAILED (exit 4)"]


def test_a_profile_error_in_one_build_does_not_stop_the_others(
    host: HostSettings, engine: FakeEngine, tmp_path: Path
) -> None:
    out: list[str] = []
    code = launch_many(["tiny-cpu", "t4-fp16"], host, engine, out.append, gpu_indices=[])
    assert code == 0 and len(engine.started) == 2


def test_a_failed_start_is_escaped_error_lines_and_the_others_go_on(host: HostSettings, engine: FakeEngine) -> None:
    def on_run(spec: ContainerSpec) -> None:
        if spec.labels["engine-foundry.profile"] == "t4-fp16":
            raise HostEnvironmentError("no GPU for the container:\nforged", hint="install the toolkit\x1b[2K")

    engine.on_run = on_run
    out: list[str] = []
    errors: list[str] = []
    code = launch_many(["t4-fp16", "a10-fp16"], host, engine, out.append, gpu_indices=[0, 1], error_sink=errors.append)
    assert code == ExitCode.ENVIRONMENT
    gpu = errors[0].split("]")[0] + "]"
    assert gpu.startswith("[t4-fp16 gpu")
    assert errors == [f"{gpu} ERROR no GPU for the container:\\nforged", f"{gpu} TIP install the toolkit\\x1b[2K"]
    assert out[-2:] == ["  t4-fp16: FAILED (exit 3)", "  a10-fp16: ok"]
    assert not any(" ERROR " in line or " TIP " in line for line in out)

    errors.clear()
    code = launch_many(["t4-fp16"], host, engine, out.append, gpu_indices=[0], error_sink=errors.append)
    assert code == ExitCode.ENVIRONMENT
    assert errors == ["ERROR no GPU for the container:\\nforged", "TIP install the toolkit\\x1b[2K"]
