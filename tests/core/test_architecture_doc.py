"""Every module of ``builder/`` (and the training tool) has its row in the architecture doc's module table, and
every path a row names exists.

The doc is docs/dev/architecture.md (contributor docs) or, before the docs split, the same file in docs/. A row names
a module by its path (``builder/a/b.py``), by its file name after a path in the same folder (``builder/a/b.py``,
``c.py``), or as a whole package by its folder (``builder/farm/``). ``__init__.py`` files need no row.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO

DOCS = tuple(f"docs/{folder}architecture.md" for folder in ("dev/", ""))  # after the docs split, before it
TABLE_HEADER = "| module | what it does |"
PACKAGES = ("builder", "fixture_trainer")


def architecture_doc(root: Path = REPO) -> Path:
    found = [root / name for name in DOCS if (root / name).is_file()]
    assert found, f"no architecture doc: looked for {', '.join(DOCS)}"
    return found[0]


def table_rows(doc: str) -> list[str]:
    lines = doc.splitlines()
    assert TABLE_HEADER in lines, f"the module table ({TABLE_HEADER}) is missing"
    start = lines.index(TABLE_HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def named_paths(rows: list[str]) -> set[str]:
    """What the first cells name: paths, file names completed by the folder of the path before them."""
    named: set[str] = set()
    for row in rows:
        folder = ""
        for token in re.findall(r"`([^`]+)`", row.split(" | ")[0]):
            if "/" in token:
                folder = token if token.endswith("/") else token.rsplit("/", 1)[0] + "/"
                named.add(token)
            elif token.endswith(".py") and folder:
                named.add(folder + token)
    return named


def undocumented(root: Path, named: set[str]) -> list[str]:
    missing = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = path.relative_to(root).as_posix()
            if path.name == "__init__.py" or "__pycache__" in module:
                continue
            if module not in named and not any(n.endswith("/") and module.startswith(n) for n in named):
                missing.append(module)
    return missing


def test_every_module_has_a_row() -> None:
    missing = undocumented(REPO, named_paths(table_rows(architecture_doc().read_text())))
    assert not missing, f"add a row to {architecture_doc().relative_to(REPO)}'s module table for: {missing}"


def test_every_path_a_row_names_exists() -> None:
    stale = sorted(p for p in named_paths(table_rows(architecture_doc().read_text())) if not (REPO / p).exists())
    assert not stale, f"{architecture_doc().relative_to(REPO)} names paths that do not exist: {stale}"


@pytest.mark.parametrize(
    ("row", "module", "documented"),
    [
        ("| `builder/a/b.py` | x |", "builder/a/b.py", True),
        ("| `builder/a/b.py`, `c.py` | x |", "builder/a/c.py", True),  # completed by the folder before it
        ("| `builder/a/` | x |", "builder/a/sub/d.py", True),  # a whole package
        ("| `builder/a/b.py` | see `c.py` |", "builder/a/c.py", False),  # only the first cell names modules
        ("| `c.py` | x |", "builder/a/c.py", False),  # a bare name with no folder before it
        ("| `builder/a/bc.py` | x |", "builder/a/b.py", False),
    ],
)
def test_what_a_row_names(tmp_path: Path, row: str, module: str, documented: bool) -> None:
    (tmp_path / module).parent.mkdir(parents=True)
    (tmp_path / module).write_text("")
    doc = f"{TABLE_HEADER}\n|---|---|\n{row}\n"
    assert (undocumented(tmp_path, named_paths(table_rows(doc))) == []) is documented


@pytest.mark.parametrize("name", DOCS)
def test_the_doc_is_found_at_either_path(tmp_path: Path, name: str) -> None:
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_text(TABLE_HEADER)
    assert architecture_doc(tmp_path) == tmp_path / name
