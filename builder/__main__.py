"""`python -m builder` entry point."""

import sys

if sys.argv[1:2] == ["build"]:  # a signal while the rest of the tool is still being imported: builder/interrupts.py
    from builder import interrupts

    interrupts.install()

from builder.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
