"""Make ``tensorrt-stubs`` usable by mypy: a copy on MYPYPATH, with the few unparsable lines repaired.

The wheel installs ``tensorrt/__init__.pyi`` and ``tensorrt_bindings/*.pyi`` without a ``py.typed`` marker
(so mypy skips them as "installed but untyped"), and five generated signatures use ``in`` as a parameter
name (a syntax error). This copies the stubs to a folder and turns each unparsable ``def`` line into
``def name(*args: typing.Any, **kwargs: typing.Any) -> <same return>: ...``; every other signature is kept.

Usage: ``python -m tests.backends.tensorrt.trt_stubs DIR`` then ``MYPYPATH=DIR python -m mypy``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

PACKAGES = ("tensorrt", "tensorrt_bindings")
_DEF = re.compile(r"^(\s*def \w+)\((.*)\)(\s*->\s*.*)?:\s*(\.\.\.)?\s*$")


def installed_stub_dirs() -> list[Path]:
    """The installed stub folders, or [] when tensorrt-stubs is not installed."""
    dirs = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(p) for p in locations if (Path(p) / "__init__.pyi").is_file()]
        if not found:
            return []
        dirs.append(found[0])
    return dirs


def repair(text: str) -> tuple[str, int]:
    """Return ``text`` with unparsable one-line ``def`` signatures widened; and how many were."""
    lines = text.splitlines()
    fixed = 0
    while True:
        try:
            ast.parse("\n".join(lines))
            return "\n".join(lines) + "\n", fixed
        except SyntaxError as err:
            index = (err.lineno or 0) - 1
            match = _DEF.match(lines[index]) if 0 <= index < len(lines) else None
            if match is None:
                raise
            body = " ..." if match.group(4) else ""
            lines[index] = f"{match.group(1)}(*args: typing.Any, **kwargs: typing.Any){match.group(3) or ''}:{body}"
            fixed += 1


def prepare(target: Path) -> int:
    """Write repaired stubs under ``target``; return the number of repaired signatures.

    Raises:
        FileNotFoundError: tensorrt-stubs is not installed.
    """
    sources = installed_stub_dirs()
    if not sources:
        raise FileNotFoundError("tensorrt-stubs is not installed (pip install tensorrt-stubs)")
    total = 0
    for source in sources:
        out = target / source.name
        out.mkdir(parents=True, exist_ok=True)
        for stub in source.glob("*.pyi"):
            text, fixed = repair(stub.read_text())
            if "typing.Any" in text and not re.search(r"^import typing$", text, re.M):
                text = "import typing\n" + text
            (out / stub.name).write_text(text)
            total += fixed
    return total


if __name__ == "__main__":
    print(f"repaired {prepare(Path(sys.argv[1]))} signature(s) under {sys.argv[1]}")
