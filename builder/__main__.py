"""`python -m builder` entry point."""

import os
import sys

BUILD = sys.argv[1:2] == ["build"]
if BUILD:  # a signal while the rest of the tool is still being imported: builder/interrupts.py
    from builder import interrupts

    interrupts.install()

from builder.cli import main

if __name__ == "__main__":
    code = main()
    if BUILD:  # end here, with the signal handler still in place: the interpreter's shutdown restores the
        sys.stdout.flush()  # default action, and a signal then would end the process without a word
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
