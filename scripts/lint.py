"""The lint of `make lint` and the pre-commit hooks: ruff check, ruff format --check, then mypy over the builder
package (mypy.ini) with the TensorRT API stubs on MYPYPATH.

mypy fails, never skips, when tensorrt-stubs is missing: without them every TensorRT call would go unchecked. The
repaired stubs (tests/backends/tensorrt/trt_stubs.py) and mypy's cache live in .mypy_cache/, so a second run
re-checks only what changed (the first, cold one takes a minute or more on 2 cores).

Usage: python scripts/lint.py [ruff] [format] [mypy]   (no argument: all three; exit 1 when any fails)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUBS = REPO / ".mypy_cache" / "tensorrt-stubs"
STEPS = ("ruff", "format", "mypy")


def mypy() -> int:
    sys.path.insert(0, str(REPO))
    from tests.backends.tensorrt.trt_stubs import installed_stub_dirs, prepare

    if not installed_stub_dirs():
        print("ERROR tensorrt-stubs is not installed: mypy cannot check the TensorRT calls", file=sys.stderr)
        print(
            "TIP run scripts/setup-env dev (it installs them), or: pip install --no-deps -r requirements/stubs.txt",
            file=sys.stderr,
        )
        return 1
    prepare(STUBS)
    env = {**os.environ, "MYPYPATH": str(STUBS)}
    return subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, env=env, check=False).returncode


def run(step: str) -> int:
    if step == "mypy":
        return mypy()
    command = ["check", "."] if step == "ruff" else ["format", "--check", "."]
    return subprocess.run([sys.executable, "-m", "ruff", *command], cwd=REPO, check=False).returncode


def main(argv: list[str]) -> int:
    unknown = [step for step in argv if step not in STEPS]
    if unknown:
        print(f"ERROR unknown lint step {unknown[0]!r}", file=sys.stderr)
        print(f"TIP choose from: {', '.join(STEPS)} (none: all of them)", file=sys.stderr)
        return 2
    failed = [step for step in argv or STEPS if run(step) != 0]
    if failed:
        print(f"lint: {', '.join(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
