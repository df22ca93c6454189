"""`python -m builder` entry point (the image runs it; on the host the console script `engine-foundry` is the
command, builder.cli:main)."""

import os
import sys

BUILD = sys.argv[1:2] == ["build"]
if BUILD:  # a signal while the rest of the tool is still being imported: builder/common/interrupts.py
    from builder.common import interrupts

    interrupts.install()

try:
    from builder.cli import main
except ModuleNotFoundError as missing:  # a third-party package of the host side is not installed in this Python
    if (missing.name or "").split(".")[0] == "builder":
        raise
    from builder.errors import error_lines, missing_package_error  # dependency-free

    error = missing_package_error(missing.name, sys.executable, sys.argv[1:])
    print(*error_lines(error), sep="\n", file=sys.stderr)
    sys.exit(int(error.exit_code))

if __name__ == "__main__":
    code = main()
    if BUILD:  # end here, with the signal handler still in place: the interpreter's shutdown restores the
        sys.stdout.flush()  # default action, and a signal then would end the process without a word
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
