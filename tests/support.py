"""Test helpers shared by every test module (not fixtures: plain functions)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from builder.profile import (
    Backend,
    BatchSpec,
    BenchmarkSpec,
    HardwareCompatibility,
    ModelSpec,
    OutputsSpec,
    Precision,
    Profile,
    Tolerance,
    VerifySpec,
)

REPO = Path(__file__).resolve().parent.parent
#: the tests' one tiny CPU profile (YOLO11n at 64x64 on ONNX Runtime): copy it with :func:`write_tiny_profile`
TINY_CPU_YAML = REPO / "tests" / "data" / "profiles" / "tiny-cpu.yaml"


def tiny_profile_text(name: str = "tiny-cpu") -> str:
    """The text of ``tests/data/profiles/tiny-cpu.yaml``, named ``name``."""
    text = TINY_CPU_YAML.read_text()
    assert "\nname: tiny-cpu\n" in text, f"{TINY_CPU_YAML} must keep its `name: tiny-cpu` line"
    return text.replace("\nname: tiny-cpu\n", f"\nname: {name}\n")


def copy_profiles(target: Path, names: tuple[str, ...] | None = None) -> Path:
    """The repository's profiles (only the files ``names`` where given, e.g. ``("cpu-fp32.yaml", …)``) in
    ``target``."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    for path in (REPO / "profiles").glob("*.yaml"):
        if names is None or path.name in names:
            shutil.copy(path, target / path.name)
    return target


def link_shipped_models(models: Path) -> Path:
    """``models/fixtures``: the shipped fixture models and their data (hard links where the file system allows), so
    a test's models folder builds the shipped profiles that need them (the GPU profiles build the trained fixture)."""
    import os
    import shutil

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    models.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "models" / "fixtures", models / "fixtures", copy_function=link, dirs_exist_ok=True)
    return models


def write_tiny_profile(folder: Path, name: str = "tiny-cpu", text: str | None = None) -> Path:
    """``folder/<name>.yaml``: the tiny profile (or ``text``, e.g. an edited :func:`tiny_profile_text`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(tiny_profile_text(name) if text is None else text)
    return path


def make_profile(**overrides: Any) -> Profile:
    """A small, valid CPU profile (yolo11n.yaml, imgsz 64) with ``overrides`` applied."""
    base = Profile(
        name="test-cpu",
        description="test profile",
        backend=Backend.ONNXRUNTIME,
        model=ModelSpec(yaml="yolo11n.yaml", seed=0),
        task="detect",
        imgsz=(64, 64),
        batch=BatchSpec(1, 1, 1),
        precision=Precision.FP32,
        int8=None,
        workspace=None,
        timing_cache=None,
        frozen=None,
        builder_optimization_level=3,
        hardware_compatibility=HardwareCompatibility.NONE,
        version_compatible=False,
        tf32=False,
        tensorrt="8.6",
        opset=17,
        simplify=True,
        target=None,
        verify=VerifySpec(tolerances={"default": Tolerance(atol=1e-3, rtol=1e-3)}),
        benchmark=BenchmarkSpec(warmup=1, iterations=3),
        outputs=OutputsSpec(),
    )
    return replace(base, **overrides)


def shipped_files(folder: str, pattern: str, root: Path = REPO) -> list[Path]:
    """The files of ``root/folder`` matching ``pattern`` that git tracks: what the repository ships, sorted.

    A user's own additions (a profile dropped into ``profiles/``, as the README invites) are not part of it.
    Outside a git checkout (an exported tree): every matching file.
    """
    import fnmatch
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", folder], cwd=root, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is None or listed.returncode != 0:
        return sorted((root / folder).glob(pattern))
    paths = (root / name for name in listed.stdout.split("\0") if name)
    return sorted(p for p in paths if p.parent == root / folder and fnmatch.fnmatch(p.name, pattern))


def unpack_bundle(bundle: Path, dest: Path) -> Path:
    """Extract a bundle the test made into ``dest``; its one top folder.

    ``filter="data"`` where tarfile has extraction filters (Python 3.11.4 and later); Debian 12's python3 (3.11.2)
    has none, and these archives are the tests' own.
    """
    import tarfile

    with tarfile.open(bundle, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    (top,) = dest.iterdir()
    return top
