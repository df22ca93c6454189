"""The README's commands and examples work as written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builder.profile import load_profile
from tests.support import REPO

README = (REPO / "README.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_quick_start_is_two_make_commands_and_ci_runs_every_test():
    commands = [b.strip() for b in _blocks("bash")[:2]]
    assert commands == ["make engine", "make test"]
    assert "exec make test-all" in (REPO / ".ci" / "run").read_text()


def test_every_make_command_in_the_readme_is_a_target():
    targets = set(re.findall(r"^([a-z-]+):", MAKEFILE, re.M))
    mentioned = set(re.findall(r"`make ([a-z-]+)", README))
    assert mentioned and mentioned <= targets, sorted(mentioned - targets)


def test_make_test_is_the_fast_tier_and_make_test_all_everything_but_gpu_tests():
    recipe = re.search(r"^test:.*\n\t(.*)$", MAKEFILE, re.M).group(1)
    assert '-m "not gpu and not slow"' in recipe and "pytest" in recipe and "--durations=25" in recipe
    recipe = re.search(r"^test-all:.*\n\t(.*)$", MAKEFILE, re.M).group(1)
    assert '-m "not gpu"' in recipe and "pytest" in recipe


def test_the_profile_example_is_valid(tmp_path):
    for path in (REPO / "profiles").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    example = _blocks("yaml")[0]
    name = re.search(r"^name: (\S+)", example, re.M).group(1)
    (tmp_path / f"{name}.yaml").write_text(example)
    profile = load_profile(name, tmp_path)
    assert profile.target.compute_capability == "8.9"


def _user_folders_in(tmp_path):
    """The environment that points the builder's artifacts, cache, models and reports folders under ``tmp_path``."""
    import os
    import shutil

    folders = {"ARTIFACTS": "artifacts", "CACHE": "cache", "MODELS": "models", "REPORTS": "reports"}
    for name in folders.values():
        (tmp_path / name).mkdir(exist_ok=True)
    if not (tmp_path / "models" / "fixtures").exists():  # what a clone's models folder holds: the default's fixture
        shutil.copytree(REPO / "models" / "fixtures", tmp_path / "models" / "fixtures")
    return {**os.environ, **{f"ENGINE_FOUNDRY_{key}": str(tmp_path / name) for key, name in folders.items()}}


@pytest.mark.parametrize(
    "command",
    [  # `build` is a real build: the slow tier
        pytest.param(c, marks=pytest.mark.slow) if c == "build" else c
        for c in sorted(set(re.findall(r"`\.venv/bin/engine-foundry ([a-z]+)`", README)))
    ],
)
def test_python_commands_in_the_readme_run(command, tmp_path):
    """As written (defaults included), through .venv's console script, but with the user's folders moved to
    tmp_path: `build` publishes a build."""
    env = _user_folders_in(tmp_path)
    script = Path(sys.executable).parent / "engine-foundry"
    result = subprocess.run([str(script), command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_linked_documents_exist():
    for link in re.findall(r"\]\(([^)#]+\.md)\)", README):
        assert (REPO / link).is_file(), link


@pytest.mark.docker
@pytest.mark.slow
def test_make_engine_builds_the_default_profile_in_a_container(tmp_path):
    """The README's first command, for real: image (built if missing), container, verified cpu-fp32 artifact."""
    import os
    import shutil

    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI runs the Docker tests, but no Docker engine answers")
        pytest.skip("no Docker engine")
    env = _user_folders_in(tmp_path)
    # The README's command; from a Python other than the project's .venv (a bare pytest run), with that Python
    # (the set-up itself is tested in a fresh Debian container: tests/setup/test_fresh_machine.py).
    in_venv = Path(sys.prefix).resolve() == (REPO / ".venv").resolve()
    command = ["make", "engine"] + ([] if in_venv else [f"PYTHON={sys.executable}"])
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    latest = tmp_path / "artifacts" / "cpu-fp32-shapes" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["environment"]["image"]["id"]
    evaluate = next(stage for stage in manifest["stages"] if stage["name"] == "evaluate")["details"]
    assert evaluate["passed"] == {"drop": True, "floor": True} and evaluate["artifact"]["map50_95"] > 0.85
    assert manifest["environment"]["in_container"] is True
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=latest).returncode == 0
    verify = subprocess.run(
        [sys.executable, "-m", "builder", "verify", str(latest)], cwd=REPO, capture_output=True, text=True
    )
    assert verify.returncode == 0 and "GO:" in verify.stdout, verify.stdout + verify.stderr
