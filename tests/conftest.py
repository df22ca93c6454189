"""The test tiers (tests/tiers.py), the session's one published tiny build, and a guard over the whole test run:
tests never write into the user's folders of this checkout.

The repository's ``artifacts/``, ``cache/``, ``bundles/``, ``reports/`` and ``models/`` hold the user's builds,
caches, bundles, nightly reports and checkpoints: a test that builds with the repository as working directory would
publish into them (and switch ``latest``). Every test works in temporary folders instead; this guard snapshots those
folders (names, sizes, modification times) and ``git status --porcelain`` before the run and fails the run when
either changed. ``ENGINE_FOUNDRY_NO_WRITE_GUARD=1`` turns it off (e.g. while editing files during a long run).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tiers
from tests.support import REPO

USER_FOLDERS = ("artifacts", "cache", "bundles", "reports", "models")

# A shell starts a background job (`make test &`, `nohup …`) with SIGINT ignored, and every process the tests start
# would inherit that: the builder rightly leaves an ignored SIGINT ignored, so the Ctrl-C tests would see no
# interruption. The tests are what sends those signals: give their processes the default disposition back (a
# handled signal is reset to the default across exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

Snapshot = dict[str, tuple[str, int, int]]


def folder_snapshot(root: Path, names: tuple[str, ...] = USER_FOLDERS) -> Snapshot:
    """Every entry under ``root/<name>``: relative path → (kind, size, mtime in ns); symlinks are not followed."""
    entries: Snapshot = {}
    for name in names:
        top = root / name
        if not os.path.lexists(top):
            continue
        for current, dirs, files in os.walk(top):
            linked_dirs = [d for d in dirs if os.path.islink(os.path.join(current, d))]
            for entry in [current, *(os.path.join(current, n) for n in files + linked_dirs)]:
                entries[os.path.relpath(entry, root)] = _describe(entry)
    return entries


def _describe(entry: str) -> tuple[str, int, int]:
    info = os.lstat(entry)
    if os.path.islink(entry):
        return "link:" + os.readlink(entry), info.st_size, info.st_mtime_ns
    return ("dir", 0, info.st_mtime_ns) if os.path.isdir(entry) else ("file", info.st_size, info.st_mtime_ns)


def snapshot_changes(before: Snapshot, after: Snapshot) -> list[str]:
    """``added``/``removed``/``changed`` lines, sorted by path."""
    lines = [f"added   {p}" for p in after.keys() - before.keys()]
    lines += [f"removed {p}" for p in before.keys() - after.keys()]
    lines += [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(lines, key=lambda line: line[8:])


def git_status(root: Path) -> str | None:
    """``git status --porcelain`` of ``root``, or None outside a git checkout (or without git)."""
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


@pytest.fixture(scope="session", autouse=True)
def user_folders_untouched() -> Iterator[None]:
    """Fails the run (at its end) when the tests changed the user's folders or the git status of this checkout."""
    if os.environ.get("ENGINE_FOUNDRY_NO_WRITE_GUARD") == "1":
        yield
        return
    folders, status = folder_snapshot(REPO), git_status(REPO)
    yield
    changes = snapshot_changes(folders, folder_snapshot(REPO))
    if changes:
        shown = "\n  ".join(changes[:20]) + (f"\n  … {len(changes) - 20} more" if len(changes) > 20 else "")
        pytest.fail(
            f"the tests changed the user's folders under {REPO} (tests must use temporary folders):\n  {shown}",
            pytrace=False,
        )
    if status is not None and git_status(REPO) != status:
        pytest.fail(
            f"the tests changed `git status` of {REPO}:\n"
            f"before:\n{status or '(clean)'}\nafter:\n{git_status(REPO) or '(clean)'}\n"
            "(files edited during the run count too: set ENGINE_FOUNDRY_NO_WRITE_GUARD=1 for such a run)",
            pytrace=False,
        )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: `make test` is `-m "not gpu and not slow"`
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses a real build or export fixture, Docker or Ray is ``slow`` (tests/tiers.py)."""
    tiers.mark_slow(items)


def pytest_sessionstart(session: pytest.Session) -> None:
    from builder.pipeline.stages import export as export_stage

    if not hasattr(export_stage.run, "__wrapped__"):
        export_stage.run = tiers.guard_export(export_stage.run)  # type: ignore[assignment]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    with tiers.running(item):
        return (yield)


@pytest.fixture(scope="session")
def published_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding profiles/ (``tiny``: tests/data/profiles/tiny-cpu.yaml, with ``cpu-fp32`` and its base),
    models/, cache/ and artifacts/ with one real published build of ``tiny``, made bare by the CLI: the session's one
    published tiny build. Shared: copy it (:func:`tests.faults.harness.clone`) before changing anything."""
    from tests.faults.harness import folder_args, quiet_env, run_cli, write_tiny_profiles

    root = tmp_path_factory.mktemp("published")
    write_tiny_profiles(root / "profiles", "tiny")
    result = run_cli(["build", "--profile", "tiny", *folder_args(root)], cwd=root, env=quiet_env(root))
    assert result.returncode == 0, result.describe()
    return root
