"""Every command the docs, examples and messages tell people to type names an entry point that runs as typed
(issue 22 item 2): on Debian there is no `python`, and `python3 -m builder` outside .venv lacks the packages, so
the command is `.venv/bin/engine-foundry` (or `engine-foundry` in the image / on PATH); a `make` target that
exists; a `python -m <module>` only through .venv's (or the image's) Python, of a module that exists.

Data-driven: each command found in README.md, docs/**/*.md, examples/ and the user-facing strings of builder/ (TIPs,
errors; not docstrings or comments) is one test case.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from builder.cli import build_parser
from tests.support import REPO

DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").rglob("*.md")),
    *sorted(p for p in (REPO / "examples").rglob("*") if p.is_file()),
]
# Generated headers that are part of lock files' bytes (changing them changes every build key): not user-typed
# commands of this check.
NOT_CHECKED = {
    "builder/host/lockfile.py",  # the header of requirements/<flavour>.txt, whose sha256 is in every build key
}  # fmt: skip
PYTHONS = (".venv/bin/python", "/opt/venv/bin/python")  # the project's venv, the image's
CLIS = (".venv/bin/engine-foundry", "engine-foundry")  # the console script: .venv's, or the image's / on PATH
PYTHON_M = re.compile(r"(?<![\w/.-])((?:[\w./~-]+/)?python3?)\s+-m\s+([\w.]+)")
CLI_CALL = re.compile(r"(?<![\w/.:-])((?:[\w./~-]+/)?engine-foundry)(?![\w:/.-])(?:\s+([a-z][\w-]*))?")
MAKE = re.compile(r"(?<![\w/.-])make\s+(?:-\w+\s+)*([a-z][\w-]*)")


def _code_spans(text: str) -> list[str]:
    """Fenced code lines and inline code spans of Markdown (a plain file: all of it)."""
    spans: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            spans.append(line)
        else:
            spans += re.findall(r"`([^`]+)`", line)
    return spans


def _message_strings(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings (f-strings joined with {} for their values)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.append(node.value)
    return out


def _commands() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in DOCS:
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text()
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]  # a comment is prose
        for span in _code_spans(text) if path.suffix == ".md" else lines:
            found += [(rel, span.strip())] if PYTHON_M.search(span) or CLI_CALL.search(span) else []
            found += [(rel, span.strip())] if path.suffix == ".md" and MAKE.search(span) else []
    for path in sorted((REPO / "builder").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in NOT_CHECKED:
            continue
        for string in _message_strings(path):
            for span in re.findall(r"`([^`]+)`", string):
                if PYTHON_M.search(span) or CLI_CALL.search(span) or MAKE.search(span):
                    found.append((rel, span.strip()))
    return sorted(set(found))


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {name for line in text.splitlines() for name in re.findall(r"^([a-z][\w -]*):", line)[:1]
            for name in name.split()}  # fmt: skip


SUBCOMMANDS = set(next(a for a in build_parser()._actions if a.dest == "command").choices)  # type: ignore[arg-type]
COMMANDS = _commands()


def test_the_docs_name_commands_at_all():
    """The extraction itself works: the crontab, the README's doctor and make engine are among the cases."""
    assert any(rel == "examples/scheduling/crontab" and ".venv/bin/engine-foundry nightly" in c for rel, c in COMMANDS)
    assert ("README.md", ".venv/bin/engine-foundry doctor") in COMMANDS
    assert ("README.md", "make engine") in COMMANDS
    assert ("builder/host/docker_engine.py", "make image FLAVOUR={}") in COMMANDS


@pytest.mark.parametrize("where, command", COMMANDS, ids=[f"{w}: {c[:60]}" for w, c in COMMANDS])
def test_a_documented_command_runs_as_typed(where, command):
    for exe, module in PYTHON_M.findall(command):
        assert exe.endswith(PYTHONS), (
            f"{where}: `{command}`: `{exe} -m {module}` does not run as typed (Debian has no `python`; python3 "
            "outside .venv lacks the packages): write `.venv/bin/engine-foundry …` or `.venv/bin/python -m …`"
        )
        assert importlib.util.find_spec(module) is not None, f"{where}: `{command}`: no module {module}"
    for exe, sub in CLI_CALL.findall(command):
        assert exe.endswith(CLIS), f"{where}: `{command}`: {exe} is not the console script"
        assert not sub or sub in SUBCOMMANDS, f"{where}: `{command}`: engine-foundry has no command {sub!r}"
    targets = _make_targets()
    for target in MAKE.findall(command):
        assert target in targets, f"{where}: `{command}`: the Makefile has no target {target!r}"
