"""`python -m builder` entry point."""

import os
import sys

BUILD = sys.argv[1:2] == ["build"]
if BUILD:  # a signal while the rest of the tool is still being imported: builder/interrupts.py
    from builder import interrupts

    interrupts.install()

try:
    from builder.cli import main
except ModuleNotFoundError as missing:  # a third-party package of the host side is not installed in this Python
    if (missing.name or "").split(".")[0] == "builder":
        raise
    from builder.errors import HostEnvironmentError, error_lines  # dependency-free

    error = HostEnvironmentError(
        f"the Python package {missing.name!r} is not installed in {sys.executable}",
        hint="run the make targets from the repository root (`make engine` sets up .venv with the pinned packages "
        "first), or install them into this Python: `pip install -r requirements/host.txt`",
    )
    print(*error_lines(error), sep="\n", file=sys.stderr)
    sys.exit(int(error.exit_code))

if __name__ == "__main__":
    code = main()
    if BUILD:  # end here, with the signal handler still in place: the interpreter's shutdown restores the
        sys.stdout.flush()  # default action, and a signal then would end the process without a word
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
