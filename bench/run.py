"""``make bench``: measure Engine Foundry against its targets and write BENCHMARKS.md.

    python3 bench/run.py [--quick] [--no-full-image] [--output BENCHMARKS.md]
    python3 bench/run.py --only-task-int8 [--tasks classify,segment] [--samples N]  (per-task INT8 rows only)

Bare measurements always run; the Docker ones run when an engine answers, and are reported as not measured
(with the reason) otherwise.  A measurement that fails is reported, not fatal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.farm import farm_parallelism  # noqa: E402
from bench.int8 import PROFILES as INT8_PROFILES  # noqa: E402
from bench.int8 import int8_vs_fp32  # noqa: E402
from bench.machine import Machine, describe_machine, docker_version  # noqa: E402
from bench.measure import REPO, Workspace, run_builder  # noqa: E402
from bench.report import console, markdown, write_markdown  # noqa: E402
from bench.task_int8 import TASKS, task_int8_vs_fp32  # noqa: E402
from bench.task_int8 import profiles as task_profiles  # noqa: E402
from bench.workloads import (  # noqa: E402
    Results,
    Verdict,
    cold_and_noop,
    container_overhead,
    image_rebuilds,
    stage_times_320,
)

BENCH_320 = "name: bench-320\nextends: cpu-fp32\ndescription: the default model at 320x320, for bench/\nimgsz: 320\n"
DOCKER_TARGETS = [
    ("docker: no-op rebuild vs cold build (cpu-fp32, 640)", "no-op <= 1 s and <= 5% of cold, no container"),
    ("container vs bare pipeline (cpu-fp32, 640, --force)", "<= 2 s overhead"),
    ("image rebuild: code-only change vs full build", "code-only <= 20 s"),
]


def _container_counter() -> Callable[[float, float], int]:
    import docker

    client = docker.from_env()

    def count(since: float, until: float) -> int:
        events = client.events(
            since=int(since), until=int(until) + 1, decode=True, filters={"type": "container", "event": "create"}
        )
        return sum(1 for _ in events)

    return count


def _attempt(results: Results, name: str, target: str, action: Callable[[], None]) -> None:
    """Run one measurement; a failure becomes a 'not measured' row with its reason."""
    try:
        action()
    except Exception as err:  # a benchmark reports, it does not crash
        traceback.print_exc()
        results.verdicts.append(Verdict(name, "-", target, None, f"failed: {str(err).splitlines()[0][:300]}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (1 cold, 3 no-op, 1 overhead pair)")
    parser.add_argument("--no-full-image", action="store_true", help="skip the --no-cache image build (minutes)")
    parser.add_argument("--only-int8", action="store_true", help="only cpu-int8 vs cpu-fp32 (latency ratio, mAP drop)")
    parser.add_argument(
        "--only-task-int8", action="store_true", help="only cpu-int8-<task> vs cpu-fp32-<task> (speed, metric drop)"
    )
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"tasks of the per-task INT8 rows ({','.join(TASKS)})")
    parser.add_argument("--samples", type=int, help="score the per-task builds on the first N images (small scale)")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md", help="where to write the results")
    args = parser.parse_args(argv)
    tasks = tuple(t for t in args.tasks.split(",") if t)
    if unknown := sorted(set(tasks) - set(TASKS)):
        parser.error(f"--tasks: unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    cold_reps, noop_reps, pair_reps = (1, 3, 1) if args.quick else (2, 5, 3)

    machine = describe_machine()
    print("\n".join(machine.lines()), flush=True)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="ef-bench-") as tmp:
        extra = {"bench-320": BENCH_320, **INT8_PROFILES, **task_profiles(tasks, args.samples)}
        ws = Workspace.create(Path(tmp) / "ws", extra)
        if args.only_task_int8:
            _task_int8(ws, results, tasks)
            return _report(results, machine, argv, args.output)
        print("measuring cpu-int8 against cpu-fp32 ...", flush=True)
        _attempt(results, "cpu-int8 vs cpu-fp32", ">= 1.5x faster, mAP drop <= 0.01", lambda: int8_vs_fp32(ws, results))
        if args.only_int8:
            return _report(results, machine, argv, args.output)
        _task_int8(ws, results, tasks)
        print("measuring bare builds ...", flush=True)
        _attempt(
            results,
            "bare: no-op rebuild vs cold build (cpu-fp32, 640)",
            "no-op <= 1 s and <= 5% of cold",
            lambda: cold_and_noop(ws, results, mode="bare", cold_reps=cold_reps, noop_reps=noop_reps),
        )
        _attempt(results, "stage times at 320", "-", lambda: stage_times_320(ws, results))
        print("measuring farm parallelism (a local Ray cluster) ...", flush=True)
        _attempt(results, "farm parallelism", "-", lambda: farm_parallelism(results, Path(tmp)))
        version, reason = docker_version()
        if version is None:
            results.notes.append(f"Docker is unavailable ({reason}): the Docker measurements were skipped")
            for name, target in DOCKER_TARGETS:
                results.verdicts.append(
                    Verdict(name, "-", target, None, f"not measured: Docker unavailable ({reason})")
                )
        else:
            print("measuring image rebuilds ...", flush=True)
            _attempt(
                results, *DOCKER_TARGETS[2], lambda: image_rebuilds(results, Path(tmp), full=not args.no_full_image)
            )
            print("making sure engine-foundry:cpu is built from this checkout ...", flush=True)
            image = run_builder(["image", "--flavour", "cpu"], REPO, ws.env(), timeout=3600)
            if image.returncode != 0:
                why = (
                    "not measured: `python -m builder image --flavour cpu` failed: "
                    f"{(image.stderr or image.stdout).strip()[-300:]}"
                )
                results.verdicts += [Verdict(name, "-", target, None, why) for name, target in DOCKER_TARGETS[:2]]
            else:
                print("measuring the Docker launcher ...", flush=True)
                _attempt(
                    results,
                    *DOCKER_TARGETS[0],
                    lambda: cold_and_noop(
                        ws,
                        results,
                        mode="docker",
                        cold_reps=cold_reps,
                        noop_reps=noop_reps,
                        count_containers=_container_counter(),
                    ),
                )
                _attempt(results, *DOCKER_TARGETS[1], lambda: container_overhead(ws, results, reps=pair_reps))
    return _report(results, machine, argv, args.output)


def _task_int8(ws: Workspace, results: Results, tasks: tuple[str, ...]) -> None:
    print(f"measuring cpu-int8-<task> against cpu-fp32-<task> ({', '.join(tasks)}) ...", flush=True)
    target = "faster than FP32, the task metric's drop within the INT8 profile's gate"
    _attempt(results, "cpu-int8-<task> vs cpu-fp32-<task>", target, lambda: task_int8_vs_fp32(ws, results, tasks))


def _report(results: Results, machine: Machine, argv: list[str] | None, output: Path) -> int:
    print(console(results, machine))
    command = "make bench" + (
        " (bench/run.py " + " ".join(argv or sys.argv[1:]) + ")" if (argv or sys.argv[1:]) else ""
    )
    write_markdown(output, markdown(results, machine, command))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
