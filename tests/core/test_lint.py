"""ruff (configured in pyproject.toml: one line length, the lint rules) passes on the whole tree, as in CI; `make lint`
(scripts/lint.py) fails, not skips, without tensorrt-stubs; the pre-commit hooks run the same steps from .venv."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import pytest
import yaml

from tests.support import REPO


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def _lint_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_script", REPO / "scripts" / "lint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lint_fails_with_a_tip_when_the_tensorrt_stubs_are_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.backends.tensorrt import trt_stubs

    monkeypatch.setattr(trt_stubs, "installed_stub_dirs", lambda: [])
    assert _lint_script().main(["mypy"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "ERROR tensorrt-stubs is not installed: mypy cannot check the TensorRT calls"
    assert err[1].startswith("TIP ") and "requirements/stubs.txt" in err[1]


def test_lint_refuses_an_unknown_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert _lint_script().main(["pylint"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ERROR unknown lint step 'pylint'",
        "TIP choose from: ruff, format, mypy (none: all of them)",
    ]


def test_pre_commit_runs_each_lint_step_from_the_venv_without_downloads() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # nothing fetched when the hooks install
    hooks = config["repos"][0]["hooks"]
    assert {hook["language"] for hook in hooks} == {"system"}
    assert [hook["entry"] for hook in hooks] == [
        f".venv/bin/python scripts/lint.py {step}" for step in _lint_script().STEPS
    ]
