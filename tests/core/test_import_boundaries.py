"""Host code never imports stage code; stage code never imports docker; heavy imports stay lazy.

numpy is allowed at module level on the container side only (stages, backends, yolo).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

HEAVY = {"torch", "ultralytics", "onnx", "onnxruntime", "polygraphy", "tensorrt", "docker", "cv2", "numpy"}
PACKAGE = REPO / "builder"


def _imports(path: Path, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(sub: str):
    return sorted((PACKAGE / sub).rglob("*.py"))


#: the one module under builder.backends that the host may import: the dependency-free backend catalogue
HOST_MAY_IMPORT = {"builder.backends.catalog"}


@pytest.mark.parametrize("path", _modules("host"), ids=lambda p: p.name)
def test_host_never_imports_container_side(path):
    for name in _imports(path, top_level_only=False):
        if name in HOST_MAY_IMPORT:
            continue
        assert not name.startswith(("builder.stages", "builder.backends", "builder.pipeline")), (
            f"{path}: imports {name}"
        )
        if name.split(".")[0] == "docker":
            assert path.name == "docker_engine.py", f"{path}: only host/docker_engine.py may import docker"


@pytest.mark.parametrize(
    "path", _modules("stages") + _modules("backends") + [PACKAGE / "pipeline.py"], ids=lambda p: p.name
)
def test_container_side_never_imports_docker(path):
    for name in _imports(path, top_level_only=False):
        assert name.split(".")[0] != "docker", f"{path}: imports docker"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_heavy_libraries_are_imported_lazily(path):
    top = {name.split(".")[0] for name in _imports(path, top_level_only=True)}
    heavy = HEAVY - {"numpy"} if path.parent.name in ("stages", "backends", "tensorrt", "yolo") else HEAVY
    assert not (top & heavy), f"{path}: imports {sorted(top & heavy)} at module level"


def test_backend_catalogue_imports_nothing_of_the_project():
    """Profile code and the host import the catalogue: it must not pull in a backend, a stage or the profile."""
    names = set(_imports(PACKAGE / "backends" / "catalog.py", top_level_only=False))
    assert not {name for name in names if name.startswith("builder")}, names


def test_cli_starts_without_heavy_modules():
    code = "import sys, builder.cli as c; c.build_parser(); print(sorted(m for m in %r if m in sys.modules))" % (
        sorted(HEAVY),
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", _modules("backends"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_backends_never_import_stages_or_the_pipeline(path):
    """Shared types live in builder.stage_types, helpers in builder.yolo and builder.benchmarking."""
    for name in _imports(path, top_level_only=False):
        assert not name.startswith(("builder.stages", "builder.pipeline")), f"{path}: imports {name}"


@pytest.mark.parametrize("path", _modules("stages"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_stages_reach_backends_only_through_the_registry(path):
    for name in _imports(path, top_level_only=False):
        if name.startswith("builder.backends"):
            assert name == "builder.backends.registry", (
                f"{path}: imports {name}; use builder.backends.registry.get_backend"
            )
