"""One ERROR/TIP format: ``builder.errors.error_lines``, printed by the CLI's boundary (and the launcher's sinks)."""

from __future__ import annotations

import ast

import pytest

from builder.errors import BuilderError, FieldError, ProfileError, error_lines
from tests.support import REPO

ALLOWED = {"builder/errors.py", "builder/cli.py"}  # the format, and the boundary (validate lists every problem)


def _leading_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def test_no_module_outside_the_boundary_writes_its_own_error_or_tip_line():
    offenders: set[str] = set()  # an f-string and its leading constant are found twice: one line each
    for path in sorted((REPO / "builder").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            text = _leading_text(node)
            if rel not in ALLOWED and text is not None and text.startswith(("ERROR ", "TIP ")):
                offenders.add(f"{rel}:{node.lineno}")
    assert not offenders, "raise a BuilderError or use builder.errors.error_lines:\n" + "\n".join(sorted(offenders))


@pytest.mark.parametrize(
    "err, lines",
    [
        (BuilderError("no file: a\nb", hint="pass\x1b[2K one"), ["ERROR no file: a\\nb", "TIP pass\\x1b[2K one"]),
        (BuilderError("busy"), ["ERROR busy"]),
        (
            ProfileError([FieldError("p.yaml", "imgsz", "not a multiple of 32", 3), FieldError("p.yaml", "x", "no")]),
            [
                "ERROR p.yaml:3: imgsz: not a multiple of 32 (and 1 more problem(s))",
                "ERROR p.yaml: x: no",
                "TIP fix the listed keys; `.venv/bin/engine-foundry validate` checks profiles without building",
            ],
        ),
    ],
)
def test_error_lines(err, lines):
    assert error_lines(err) == lines
