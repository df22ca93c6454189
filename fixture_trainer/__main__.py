"""``python3 -m fixture_trainer ARGS`` is ``python3 -m builder fixture-ARGS`` (e.g. ``model``, ``data``)."""

from __future__ import annotations

import sys

from builder.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main([f"fixture-{argv[0]}", *argv[1:]] if argv and not argv[0].startswith("-") else argv))
