"""Every case of tests/data/bad_inputs/ through the real CLI: the documented exit code, one ERROR + one TIP, no
traceback, nothing partial in the artifacts folder.  Adding a case is adding a file (docs/dev/faults.md)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.corpus import Case, CheckpointMaker, Workspace, load_cases, materialise, restore_modes
from tests.faults.harness import (
    file_size_limit,
    is_root,
    memory_limit,
    partial_artifacts,
    readonly_mount_prefix,
    run_cli,
    tmpfs_prefix,
    unprivileged_prefix,
    user_error_problems,
)

CASES = load_cases()


def _params() -> list[Any]:
    params: list[Any] = []
    for case in CASES:
        marks = []
        if "docker" in case.requires:
            marks.append(pytest.mark.docker)
        if case.data.get("slow") or case.name.startswith("model-"):  # a model- case loads weights: import torch
            marks.append(pytest.mark.slow)
        if case.data.get("known_bug"):
            marks.append(pytest.mark.xfail(reason=case.data["known_bug"], strict=True))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.fixture(scope="session")
def checkpoint_maker(tmp_path_factory: pytest.TempPathFactory) -> CheckpointMaker:
    return CheckpointMaker(tmp_path_factory.mktemp("checkpoints"))


def _skip_unless_available(case: Case, docker_available: bool) -> None:
    if "root" in case.requires and not is_root():
        pytest.skip("needs root (a private mount namespace)")
    if "docker" in case.requires and not docker_available:
        pytest.skip("no Docker engine answers")
    if "no-gpu" in case.requires and shutil.which("nvidia-smi"):
        pytest.skip("this host has an NVIDIA GPU: the case needs one without")


def _prefix_and_preexec(case: Case, ws: Workspace) -> tuple[list[str], Callable[[], None] | None]:
    sandbox = case.data.get("sandbox")
    if sandbox is None:
        return [], None
    kind, _, arg = str(sandbox).partition(":")
    if kind == "unprivileged":
        return unprivileged_prefix(), None
    if kind == "readonly-artifacts":
        ws.artifacts.mkdir(parents=True, exist_ok=True)
        return readonly_mount_prefix(ws.artifacts), None
    if kind == "tmpfs-artifacts":
        ws.artifacts.mkdir(parents=True, exist_ok=True)
        snapshot = ws.tmp / "artifacts.after"
        snapshot.mkdir()
        return tmpfs_prefix(ws.artifacts, arg, snapshot), None
    if kind == "file-size-limit":
        return [], file_size_limit(int(arg))
    if kind == "memory-limit":
        return [], memory_limit(int(arg))
    raise ValueError(f"{case.name}: unknown sandbox {sandbox!r}")


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_a_clean_user_error(
    case: Case, tmp_path: Path, checkpoint_maker: CheckpointMaker, docker_available: bool
) -> None:
    _skip_unless_available(case, docker_available)
    tmp_path.chmod(0o755)
    ws = Workspace(tmp_path)
    try:
        materialise(case, ws, lambda: checkpoint_maker)
        prefix, preexec = _prefix_and_preexec(case, ws)
        argv = [ws.fmt(str(arg)) for arg in case.data["argv"]]
        result = run_cli(
            argv,
            cwd=ws.tmp,
            env=ws.env(case.data.get("env") or {}),
            prefix=prefix,
            preexec=preexec,
            timeout=case.data.get("timeout", 300),
        )
    finally:
        ws.close()
        restore_modes(case, ws)
    expect = case.expect
    problems = user_error_problems(
        result,
        exit_code=expect["exit_code"],
        contains=[ws.fmt(text) for text in expect.get("error_contains", [])],
        tip=expect.get("tip", True),
        several_errors=expect.get("several_errors", False),
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR ")]
    problems += [
        f"the ERROR lines mention {text!r}"
        for text in expect.get("error_excludes", [])
        if text.lower() in "\n".join(errors).lower()
    ]
    if len(errors) > expect.get("max_error_lines", len(errors)):
        problems.append(f"{len(errors)} ERROR lines, at most {expect['max_error_lines']} expected")
    inspected = ws.tmp / "artifacts.after" if (ws.tmp / "artifacts.after").is_dir() else ws.artifacts
    if inspected.is_dir() and not inspected.is_symlink():
        problems += [f"partial artifact: {item}" for item in partial_artifacts(inspected)]
    problems += [f"{path} was created" for path in map(ws.fmt, expect.get("absent", [])) if Path(path).exists()]
    assert not problems, f"{case.name}: {case.data['description']}\n" + "\n".join(problems) + "\n" + result.describe()


def test_the_corpus_is_large_and_distinct() -> None:
    """At least 40 cases, no two with the same setup, command and environment."""
    signatures = {repr((c.data.get("setup"), c.data["argv"], c.data.get("env"), c.data.get("sandbox"))) for c in CASES}
    assert len(CASES) >= 40
    assert len(signatures) == len(CASES)
    kinds = {c.name.split("-")[0] for c in CASES}
    assert {"profile", "model", "cli", "env"} <= kinds, kinds
