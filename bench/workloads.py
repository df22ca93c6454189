"""The measurements: no-op rebuilds, container overhead, image rebuilds, stage times.

Each returns :class:`Verdict` rows (target met or not, and why) and raw timings; all runs of one comparison
happen in the same invocation, side by side, so their ratios are meaningful on any machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import REPO, Run, Workspace, latest_manifest, median, quiet_env, run_builder, spread, stage_seconds

PROFILE = "cpu-fp32"
BENCH_TAG = "engine-foundry-bench:cpu"
BENCH_CODE_TAG = "engine-foundry-bench:cpu-code-change"


@dataclass
class Verdict:
    name: str
    measured: str
    target: str
    met: bool | None  # None: not measured
    reason: str


@dataclass
class Results:
    verdicts: list[Verdict] = field(default_factory=list)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> stage -> seconds
    raw: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _floor(ws: Workspace) -> float:
    """The cost of any CLI call: start Python and import the CLI (``--version``), median of 3."""
    return median([run_builder(["--version"], ws.root, ws.env()).check().seconds for _ in range(3)])


def cold_and_noop(
    ws: Workspace, results: Results, *, mode: str, cold_reps: int, noop_reps: int, count_containers: Any = None
) -> None:
    """Cold builds into fresh artifacts folders, then no-op rebuilds of the first one."""
    command = "build" if mode == "bare" else "engine"
    cold: list[float] = []
    for index in range(cold_reps):
        run = run_builder([command, "--profile", PROFILE, *ws.args(f"{mode}-cold-{index}")], ws.root, ws.env()).check()
        cold.append(run.seconds)
        manifest = latest_manifest(ws.root / f"{mode}-cold-{index}", PROFILE)
        results.stages.setdefault(f"{mode} 640", {})
        for stage, seconds in stage_seconds(manifest).items():
            results.stages[f"{mode} 640"].setdefault(stage, 0.0)
            results.stages[f"{mode} 640"][stage] += seconds / cold_reps
    noop: list[float] = []
    started_containers = 0
    for _ in range(noop_reps):
        since = time.time()
        run = run_builder([command, "--profile", PROFILE, *ws.args(f"{mode}-cold-0")], ws.root, ws.env()).check()
        if "UP-TO-DATE" not in run.stdout:
            raise RuntimeError(f"the second {command} was not up to date:\n{run.stdout[-1500:]}")
        noop.append(run.seconds)
        if count_containers is not None:
            started_containers += count_containers(since, time.time() + 0.5)
    results.raw[f"{mode} cold"] = cold
    results.raw[f"{mode} no-op"] = noop
    floor = _floor(ws)
    ratio = median(noop) / median(cold)
    met = median(noop) <= 1.0 and ratio <= 0.05 and started_containers == 0
    containers = f"; containers started: {started_containers}" if count_containers is not None else ""
    if met:
        reason = (
            f"the up-to-date check needs only the profile, the weights hash and the build key; "
            f"{floor:.2f} s of it is starting Python and importing the CLI"
        )
    else:
        reason = f"over target: starting Python and importing the CLI alone takes {floor:.2f} s" + (
            f"; {started_containers} container(s) were started" if started_containers else ""
        )
    results.verdicts.append(
        Verdict(
            f"{mode}: no-op rebuild vs cold build ({PROFILE}, 640)",
            f"cold {spread(cold)}; no-op {spread(noop)}; ratio {ratio:.1%}{containers}",
            "no-op <= 1 s and <= 5% of cold" + (", no container" if count_containers is not None else ""),
            met,
            reason,
        )
    )


def container_overhead(ws: Workspace, results: Results, *, reps: int) -> None:
    """The same forced build in the container and bare, alternating; overhead = difference of medians."""
    walls: dict[str, list[float]] = {"container": [], "bare": []}
    outside: dict[str, list[float]] = {"container": [], "bare": []}
    packages: dict[str, dict[str, str]] = {}
    for _ in range(reps):
        for mode, command, artifacts in (("container", "engine", "docker-cold-0"), ("bare", "build", "bare-cold-0")):
            run = run_builder(
                [command, "--profile", PROFILE, "--force", *ws.args(artifacts)], ws.root, ws.env()
            ).check()
            manifest = latest_manifest(ws.root / artifacts, PROFILE)
            stages = sum(stage_seconds(manifest).values())
            walls[mode].append(run.seconds)
            outside[mode].append(run.seconds - stages)
            packages[mode] = dict(manifest.get("environment", {}).get("packages") or {})
    differing = sorted(
        name
        for name in set(packages["container"]) | set(packages["bare"])
        if packages["container"].get(name) != packages["bare"].get(name)
    )
    if differing:
        results.notes.append(
            "the container and this host run different versions of "
            + ", ".join(
                f"{name} ({packages['container'].get(name, 'absent')} in the image, {packages['bare'].get(name, 'absent')} here)"
                for name in differing
            )
            + ": the stage times of the two differ partly for that reason"
        )
    overhead = median(walls["container"]) - median(walls["bare"])
    outside_overhead = median(outside["container"]) - median(outside["bare"])
    results.raw["overhead container"] = walls["container"]
    results.raw["overhead bare"] = walls["bare"]
    met = max(overhead, outside_overhead) <= 2.0  # judged on both: the stages alone may run faster in the image
    inside = overhead - outside_overhead
    reason = (
        f"{outside_overhead:.2f} s is spent outside the stages (image lookup, container create/start/stop/"
        f"remove, interpreter start in the container) and {inside:+.2f} s is the stages themselves running "
        "slower or faster in the container; the verdict takes the larger of the wall-clock and outside-stage "
        "overheads"
    )
    results.verdicts.append(
        Verdict(
            f"container vs bare pipeline ({PROFILE}, 640, --force)",
            f"container {spread(walls['container'])}; bare {spread(walls['bare'])}; overhead {overhead:.2f} s "
            f"(outside the stages {outside_overhead:.2f} s)",
            "<= 2 s overhead",
            met,
            reason,
        )
    )


def stage_times_320(ws: Workspace, results: Results) -> None:
    run_builder(["build", "--profile", "bench-320", *ws.args("bare-320")], ws.root, ws.env()).check()
    results.stages["bare 320"] = stage_seconds(latest_manifest(ws.root / "bare-320", "bench-320"))


# ------------------------------------------------------------------------------------------------------------------
# image rebuilds


CONTEXT = (
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "images.lock",
    "builder",
    "profiles",
    "requirements",
)


def _copy_context(target: Path) -> Path:
    """The image's build inputs in a scratch checkout, so the repository is never edited.

    Files are copied; only the wheelhouse (large, never modified) is hard-linked.
    """
    target.mkdir(parents=True)
    for name in CONTEXT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wheelhouse"))
        elif source.is_file():
            shutil.copy2(source, target / name)
    wheelhouse = REPO / "requirements" / "wheelhouse"
    if wheelhouse.is_dir():
        shutil.copytree(wheelhouse, target / "requirements" / "wheelhouse", copy_function=_link_or_copy)
    return target


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _append_line(path: Path, line: str) -> None:
    """Append by writing a new file (a hard link, if any, would carry the change back to its source)."""
    text = path.read_text() + line
    path.unlink()
    path.write_text(text)


def _image_build(checkout: Path, *extra: str, tag: str = BENCH_TAG) -> tuple[Run, str]:
    env = quiet_env(checkout, repo=checkout)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "builder", "image", "--flavour", "cpu", "--tag", tag, *extra],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    run = Run(tuple(proc.args), time.perf_counter() - started, proc.returncode, proc.stdout, proc.stderr).check()
    return run, _steps_summary(run.stdout)


def _remove_fresh_images(log: str) -> None:
    """Delete the layers a ``--no-cache`` build made (all new; never a FROM step's image), newest first.

    Without this every full build would leave a dangling copy of the dependency stage (about 2 GB).
    """
    blocks = re.split(r"^Step \d+/\d+ : ", log, flags=re.M)[1:]
    fresh = [
        found
        for block in blocks
        if not block.startswith("FROM ")
        for found in re.findall(r"^ ---> ([0-9a-f]{12})$", block, flags=re.M)
    ]
    for image_id in reversed(fresh):
        subprocess.run(["docker", "rmi", image_id], capture_output=True)  # one still in use stays: that is fine


def _steps_summary(log: str) -> str:
    """``N of M steps re-ran, from <first step>`` (FROM and global ARG steps, which never say 'Using cache', not counted)."""
    blocks = re.split(r"^Step \d+/\d+ : ", log, flags=re.M)[1:]
    steps = [b for b in blocks if not b.startswith("FROM ") and " ---> " in b]  # global ARGs make no layer
    rerun = [b.splitlines()[0] for b in steps if " ---> Using cache" not in b]
    first = f", from `{rerun[0][:40]}`" if rerun else ""
    return f"{len(rerun)} of {len(steps)} steps re-ran{first}"


def image_rebuilds(results: Results, scratch: Path, *, full: bool) -> None:
    """No change, a code-only change and (``full``) a no-cache build of the cpu image, from a scratch checkout.

    Every image it makes is removed once measured (the layer cache of the real images is left alone).
    """
    checkout = _copy_context(scratch / "checkout")
    if (checkout / "builder" / "__init__.py").stat().st_ino == (REPO / "builder" / "__init__.py").stat().st_ino:
        raise RuntimeError("the scratch checkout shares builder/__init__.py with the repository")
    try:
        _image_build(checkout)  # warm-up: the checkout may differ from what the layer cache last saw
        unchanged, unchanged_steps = _image_build(checkout)
        _append_line(checkout / "builder" / "__init__.py", f"\n# bench: a code-only change ({time.time():.0f})\n")
        # another tag: the unchanged image (and the layers only it holds) must stay, as on a developer's machine
        code_only, code_steps = _image_build(checkout, tag=BENCH_CODE_TAG)
        _remove_tag()
        measured = f"unchanged {unchanged.seconds:.1f} s ({unchanged_steps}); code-only {code_only.seconds:.1f} s ({code_steps})"
        results.raw["image unchanged"] = [unchanged.seconds]
        results.raw["image code-only"] = [code_only.seconds]
        if full:
            full_run, full_steps = _image_build(checkout, "--no-cache")
            _remove_tag()
            _remove_fresh_images(full_run.stdout)
            results.raw["image full"] = [full_run.seconds]
            measured += (
                f"; full --no-cache {full_run.seconds:.1f} s ({full_steps}); "
                f"code-only/full {code_only.seconds / full_run.seconds:.1%}"
            )
    finally:
        _remove_tag()
    met = code_only.seconds <= 20.0
    reason = (
        "the dependency layers come from the cache; only the builder package layers are rebuilt; the rest is "
        "hashing the wheelhouse and sending the build context"
        if met
        else f"over target: {code_steps}; see the image build log (hashing the wheelhouse, context upload, pip install .)"
    )
    results.verdicts.append(
        Verdict("image rebuild: code-only change vs full build", measured, "code-only <= 20 s", met, reason)
    )


def _remove_tag() -> None:
    """Untag (and so delete) the bench images; the code-change one first, it sits on the unchanged one's layers."""
    subprocess.run(["docker", "rmi", BENCH_CODE_TAG, BENCH_TAG], capture_output=True)
