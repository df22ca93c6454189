"""The error boundary: ERROR/TIP lines, exit codes, no traceback for user errors."""

import subprocess
import sys

import pytest

from builder import cli
from builder.errors import ExitCode, FieldError, ProfileError, StageError
from tests.support import REPO


def _run(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "builder", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.returncode == 0
    for command in ("build", "validate", "list", "verify", "doctor"):
        assert command in result.stdout


def test_bad_arguments_are_a_usage_error_with_a_tip():
    result = _run("build", "--no-such-flag")
    assert result.returncode == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("ERROR ") and "--no-such-flag" in lines[0]
    assert lines[-1].startswith("TIP ")
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = _run("frobnicate")
    assert result.returncode == ExitCode.USAGE and result.stderr.startswith("ERROR ")


def test_profile_error_prints_every_problem(capsys):
    err = ProfileError(
        [
            FieldError("p.yaml", "imgsz", "must be a multiple of 32", 3),
            FieldError("p.yaml", "batch.min", "must be <= max", 5),
        ]
    )
    assert cli.report_error(err) == ExitCode.USAGE
    out = capsys.readouterr().err.splitlines()
    assert out[0] == "ERROR p.yaml:3: imgsz: must be a multiple of 32 (and 1 more problem(s))"
    assert out[1] == "ERROR p.yaml:5: batch.min: must be <= max"
    assert out[2].startswith("TIP ")


def test_a_bug_gets_a_traceback_and_exit_70(monkeypatch, capsys):
    def boom(args):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(cli, "_cmd_list", boom)
    assert cli.main(["list"]) == ExitCode.BUG
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and "ERROR this is a bug" in err


def test_stage_error_exit_code(monkeypatch, capsys):
    def fail(args):
        raise StageError("verify", "output0 differs", hint="loosen verify.tolerances")

    monkeypatch.setattr(cli, "_cmd_list", fail)
    assert cli.main(["list"]) == ExitCode.STAGE
    assert capsys.readouterr().err.splitlines() == ["ERROR verify: output0 differs", "TIP loosen verify.tolerances"]


@pytest.mark.parametrize("code", list(ExitCode))
def test_exit_codes_are_documented_in_the_readme(code):
    readme = (REPO / "README.md").read_text()
    assert f"| {int(code)} " in readme, f"exit code {int(code)} ({code.name}) missing from README"


def test_ctrl_c_ends_with_an_error_line_and_a_tip(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_list", interrupted)
    assert cli.main(["list"]) == ExitCode.INTERRUPTED
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("ERROR interrupted") and lines[-1].startswith("TIP ") and "again" in lines[-1]


def test_a_profile_name_from_a_subfolder_says_where_profiles_are_looked_up():
    result = _run("build", "--profile", "cpu-fp32", cwd=REPO / "docs")
    assert result.returncode == ExitCode.USAGE
    tip = result.stderr.strip().splitlines()[-1]
    assert tip.startswith("TIP profiles are looked up in ") and str(REPO / "docs" / "profiles") in tip
    assert "--profiles-dir" in tip and "ENGINE_FOUNDRY_PROFILES" in tip
