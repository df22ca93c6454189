"""`python3 -m builder` with a Python that lacks the host packages (issue 22 item 2): the environment, exit 3, and a
TIP naming the command that works (the .venv console script), never "a bug" (exit 70) nor a misleading report.

The Python lacking ``docker`` (or ``yaml``) is this one with the package hidden: a ``sitecustomize`` on PYTHONPATH
puts None into ``sys.modules``, so ``import docker`` raises ModuleNotFoundError as on Debian's python3 without
python3-docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO


def _python_without(tmp_path: Path, *packages: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in packages)
    )
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    return subprocess.run(
        [sys.executable, "-m", "builder", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_doctor_without_the_docker_sdk_says_so_and_exits_3(tmp_path):
    done = _python_without(tmp_path, "docker", args=["doctor"])
    assert done.returncode == 3, done.stderr
    assert "docker SDK not installed" not in done.stdout and " missing: `make image" not in done.stdout
    assert f"this Python ({sys.executable}) lacks the docker SDK" in done.stdout
    assert "engine-foundry:cpu not checked: no Docker engine to ask" in done.stdout
    assert done.stderr.splitlines()[-1] == (
        "TIP run `.venv/bin/engine-foundry doctor` from the repository root "
        "(`scripts/setup-env host` makes .venv if missing)"
    )


@pytest.mark.parametrize(
    "missing, args",
    [
        ("docker", ["nightly", "--profiles", "cpu-fp32", "--no-image-rebuild"]),  # imported inside the command
        ("yaml", ["validate"]),  # imported before the command line is read
    ],
)
def test_a_missing_host_package_is_the_environment_not_a_bug(tmp_path, missing, args):
    args += ["--reports", str(tmp_path / "r")] if args[0] == "nightly" else []
    args += ["--artifacts", str(tmp_path / "a")] if args[0] == "nightly" else []
    done = _python_without(tmp_path, missing, args=args)
    assert done.returncode == 3, done.stderr
    assert "bug" not in done.stderr and "Traceback" not in done.stderr
    error, tip = done.stderr.splitlines()[-2:]
    assert error.startswith(f"ERROR the Python package {missing!r} is not installed in {sys.executable}")
    assert tip.startswith(f"TIP run `.venv/bin/engine-foundry {' '.join(args)}` from the repository root")


@pytest.mark.parametrize(
    "stamps, names_the_dev_set",
    [
        ((), False),  # not a venv scripts/setup-env made: run the .venv command
        (("host",), True),  # make's host set: no build packages, the same command would fail again
        (("host", "verify"), True),
        (("dev",), False),  # the dev set has every package: something else is wrong, run the .venv command
        (("host", "dev"), False),
    ],
)
def test_a_host_only_venv_names_the_set_that_has_the_package(tmp_path, stamps, names_the_dev_set):
    """Seen in a fresh clone: `.venv/bin/engine-foundry build --profile h100-fp8` after `make engine` (host set)
    said "this is not the Python Engine Foundry set up" and told the user to run the very command that failed."""
    from builder.errors import missing_package_error

    for kind in stamps:
        (tmp_path / f".engine-foundry-{kind}").write_text("key\n")
    error = missing_package_error("numpy", "/x/.venv/bin/python", ["build", "--profile", "a"], prefix=str(tmp_path))
    assert int(error.exit_code) == 3 and "'numpy' is not installed in /x/.venv/bin/python" in error.message
    if names_the_dev_set:
        assert f"for the {' and '.join(stamps)} side only" in error.message
        assert error.hint.startswith("`scripts/setup-env dev` adds the build packages")
        assert "`.venv/bin/engine-foundry build --profile a`" in error.hint and "make engine PROFILE=" in error.hint
    else:
        assert error.hint.startswith("run `.venv/bin/engine-foundry build --profile a` from the repository root")
