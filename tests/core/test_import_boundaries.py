"""The folders of ``builder/`` are its architecture; these rules say what each folder may import.

Every import counts, at module level or inside a function. A rule names a folder (or a module), the ``builder``
names it must not import, and the few modules it may import all the same. docs/dev/architecture.md ("Rules") says the
same in prose. numpy is allowed at module level on the container side only (pipeline/stages, backends, yolo).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO

HEAVY = {"torch", "ultralytics", "onnx", "onnxruntime", "polygraphy", "tensorrt", "docker", "cv2", "numpy"}
PACKAGE = REPO / "builder"
#: where numpy may be imported at module level: the container side's numeric code
NUMPY_FOLDERS = ("pipeline/stages/", "backends/", "yolo/")


def _imports(path: Path, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)  # ``from builder import host``


@dataclass(frozen=True)
class FolderRule:
    """Modules under ``folder`` (a path under builder/, a folder ending in / or one module) never import a name
    starting with one of ``forbidden`` (a package or module, matched at a dot), except those in ``allowed``."""

    folder: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    why: str = ""

    def modules(self) -> list[Path]:
        if self.folder.endswith("/"):
            return sorted((PACKAGE / self.folder).rglob("*.py"))
        return [PACKAGE / self.folder]

    def breaks(self, name: str) -> bool:
        if name == "builder":  # ``from builder import x``: judged by ``builder.x``; builder/__init__ is the version
            return False

        def under(prefix: str) -> bool:
            return name == prefix or name.startswith(prefix + ".")

        return any(under(p) for p in self.forbidden) and not any(under(a) for a in self.allowed)


CONTAINER_MAY_NOT = ("docker", "builder.host", "builder.ops", "builder.farm", "builder.cli")
RULES = (
    FolderRule(
        "common/",
        ("builder",),
        allowed=("builder.common", "builder.errors"),
        why="the dependency-free helpers import only each other and the error classes",
    ),
    FolderRule(
        "host/",
        ("builder.pipeline", "builder.backends", "builder.yolo", "builder.timing", "builder.verify"),
        allowed=("builder.backends.catalog",),
        why="the host launches containers; it never runs a build (only the dependency-free backend catalogue)",
    ),
    FolderRule("pipeline/", CONTAINER_MAY_NOT, why="the container side never imports docker nor the host"),
    FolderRule("backends/", CONTAINER_MAY_NOT, why="the container side never imports docker nor the host"),
    FolderRule("yolo/", CONTAINER_MAY_NOT, why="the container side never imports docker nor the host"),
    FolderRule("timing/", CONTAINER_MAY_NOT, why="the container side never imports docker nor the host"),
    FolderRule(
        "record/",
        (*CONTAINER_MAY_NOT, "builder.pipeline", "builder.verify", "builder.timing"),
        why="what a build leaves on disk is read by the host, the pipeline, verify and ops alike",
    ),
    FolderRule(
        "backends/",
        ("builder.pipeline",),
        allowed=("builder.pipeline.stage_types",),
        why="stages reach a backend through the registry; both share only the stage contract",
    ),
    FolderRule(
        "yolo/",
        ("builder.pipeline",),
        allowed=("builder.pipeline.stage_types",),
        why="the YOLO helpers serve stages and backends alike; they share only the stage contract",
    ),
    FolderRule(
        "pipeline/stages/",
        ("builder.backends",),
        allowed=("builder.backends.registry",),
        why="a stage reaches a backend only through builder.backends.registry.get_backend",
    ),
    FolderRule(
        "profile/",
        ("builder.backends",),
        allowed=("builder.backends.catalog",),
        why="profiles know backends through the catalogue only",
    ),
    FolderRule("backends/catalog.py", ("builder",), why="the catalogue pulls in no backend, stage or profile"),
    *(
        FolderRule(
            f"machine/{name}.py",
            (*CONTAINER_MAY_NOT, "builder.pipeline", "builder.record"),
            allowed=(),
            why="GPU, environment and buildability are facts both sides read; doctor alone reports on the host",
        )
        for name in ("gpu", "environment", "buildable")
    ),
)


@pytest.mark.parametrize(
    ("rule", "path"),
    [(rule, path) for rule in RULES for path in rule.modules()],
    ids=lambda value: value.folder if isinstance(value, FolderRule) else str(value.relative_to(PACKAGE)),
)
def test_folder_rules(rule: FolderRule, path: Path) -> None:
    broken = sorted({name for name in _imports(path, top_level_only=False) if rule.breaks(name)})
    assert not broken, f"{path.relative_to(REPO)} imports {broken}: {rule.why}"


def test_every_rule_names_a_folder_that_exists() -> None:
    assert all(rule.modules() for rule in RULES)


@pytest.mark.parametrize(
    ("name", "breaks"),
    [
        ("builder.pipeline.stage_types", False),
        ("builder.pipeline.stages.build", True),
        ("builder.pipeline", True),
        ("builder.pipelines", False),  # matched at a dot, not as a string prefix
    ],
)
def test_a_rule_matches_names_at_a_dot(name: str, breaks: bool) -> None:
    rule = FolderRule("backends/", ("builder.pipeline",), allowed=("builder.pipeline.stage_types",))
    assert rule.breaks(name) is breaks


def test_only_the_docker_engine_and_doctor_import_docker() -> None:
    """The Docker engine is the container seam; doctor only asks whether an engine answers (lazily, if installed)."""
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == "docker" for name in _imports(path, top_level_only=False))
    }
    assert importers == {"host/docker_engine.py", "machine/doctor.py"}


def test_only_the_cli_imports_the_training_tool() -> None:
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] == "fixture_trainer" for name in _imports(path, top_level_only=False))
    }
    assert importers == {"cli.py"}


def test_no_loose_module_but_the_entry_points_and_the_error_boundary() -> None:
    loose = {path.name for path in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "cli.py", "cli_options.py", "errors.py"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_heavy_libraries_are_imported_lazily(path: Path) -> None:
    top = {name.split(".")[0] for name in _imports(path, top_level_only=True)}
    relative = path.relative_to(PACKAGE).as_posix()
    heavy = HEAVY - {"numpy"} if relative.startswith(NUMPY_FOLDERS) else HEAVY
    assert not (top & heavy), f"{path}: imports {sorted(top & heavy)} at module level"


def test_cli_starts_without_heavy_modules() -> None:
    code = (
        "import sys, builder.cli as c; c.build_parser(); "
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
