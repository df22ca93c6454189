"""`python -m builder` entry point."""

import sys

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
    sys.exit(main())
