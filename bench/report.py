"""Print the benchmark results and write them to BENCHMARKS.md."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

from bench.machine import Machine
from bench.measure import REPO, STAGES
from bench.workloads import Results


def _mark(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[met]


def console(results: Results, machine: Machine) -> str:
    lines = ["", "Engine Foundry benchmarks", *(f"  {line}" for line in machine.lines()), ""]
    for verdict in results.verdicts:
        lines += [
            f"[{_mark(verdict.met)}] {verdict.name}",
            f"    measured: {verdict.measured}",
            f"    target:   {verdict.target}",
            f"    why:      {verdict.reason}",
        ]
    if results.stages:
        lines += ["", "stage times (s): " + " ".join(f"{s:>9}" for s in STAGES)]
        for label, stages in results.stages.items():
            lines.append(f"  {label:14}" + " ".join(f"{stages.get(s, 0.0):9.2f}" for s in STAGES))
    lines += [f"note: {note}" for note in results.notes]
    return "\n".join(lines)


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    return (out.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def markdown(results: Results, machine: Machine, command: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Latest results of `{command}` (written by `bench/run.py`; every ratio compares runs made side by side in",
        "that one invocation). Wall-clock seconds of whole `python -m builder` processes; medians with (min-max, n).",
        "",
        f"Ran {now} at commit {_commit()} on:",
        "",
        *(f"- {line}" for line in machine.lines()),
        "",
        "## Targets",
        "",
        "| measurement | result | target | verdict | why |",
        "|---|---|---|---|---|",
    ]
    for v in results.verdicts:
        out.append(f"| {v.name} | {v.measured} | {v.target} | **{_mark(v.met)}** | {v.reason} |")
    if results.stages:
        out += [
            "",
            "## Stage times of the default model (seconds, from the manifests)",
            "",
            "| run | " + " | ".join(STAGES) + " | total |",
            "|---|" + "---:|" * (len(STAGES) + 1),
        ]
        for label, stages in results.stages.items():
            cells = " | ".join(f"{stages.get(s, 0.0):.2f}" for s in STAGES)
            out.append(f"| {label} | {cells} | {sum(stages.values()):.2f} |")
    out += [
        "",
        "## How it is measured",
        "",
        "- **no-op vs cold**: `build` (bare) and `engine` (Docker launcher) of `cpu-fp32` into a fresh artifacts",
        "  folder (cold: no earlier build; the OS caches are warm), then the same command again (up to date). For",
        "  `engine`, Docker's event stream is read for container `create` events during the no-op runs.",
        "- **container overhead**: `engine --force` and `build --force` of the same profile, alternating; the",
        "  overhead is the difference of the medians. The part outside the stages subtracts each run's stage times",
        "  (from its manifest) from its wall time.",
        "- **image rebuilds**: the image's build inputs are copied to a scratch checkout; `python -m builder image",
        "  --flavour cpu --tag engine-foundry-bench:cpu` runs there unchanged, after appending a comment to",
        "  `builder/__init__.py` (code-only), and with `--no-cache` (full; the base image itself is not rebuilt).",
        "- **stage times**: the manifests of the bare builds at imgsz 640 (`cpu-fp32`) and 320 (`bench-320`).",
        "- **cpu-int8 / cpu-int8-search vs FP32**: bare builds of the trained fixture in FP32, INT8 with the fixed",
        "  head rule and INT8 with the searched plan (`bench/int8.py`) at 256 (the fixture's size) and 640: the ratio",
        "  of p50 latencies of the three published models timed interleaved in one process (batch 1), and each",
        "  build's mAP50-95 drop below the FP32 reference on the val split at its size (docs/accuracy.md).",
    ]
    out += ["", *[f"Note: {note}" for note in results.notes]] if results.notes else []
    return "\n".join(out) + "\n"


def write_markdown(path: Path, text: str) -> None:
    path.write_text(text)
