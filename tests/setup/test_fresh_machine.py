"""The README's set-up on a fresh Debian machine: Debian's own python3 (PEP 668), no venv module, no project venv.

A container from the project's local Debian base image (`make offline-base`: debootstrap, bookworm) plays the fresh
machine, with a copy of this checkout (what git tracks or would track; no .venv). It runs the make targets as the
README says, as root: the set-up installs python3-venv with apt-get, makes .venv, installs the pinned packages, and
is a no-op the second time.

This machine's stand-in for the public package indexes: the host's pip configuration (/etc/pip.conf, /etc/xdg/pip,
~/.config/pip: local wheel folders /opt/wheels, /opt/pypi, /opt/pypi-more, and the CA bundle of this network's
TLS proxy) is mounted read-only, and pip's cache is shared, so the install reads the same files as on the host.
A user's machine needs none of that: requirements/*.txt name their indexes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = "engine-foundry/base:bookworm"  # builder/host/offline_base.py: offline_base_ref()
PIP_CONFIG = [
    "/etc/pip.conf",
    "/etc/xdg/pip",
    "/root/.config/pip",
    "/opt/wheels",
    "/opt/pypi",
    "/opt/pypi-more",
    "/etc/ssl/certs/ca-certificates.crt",
]

SCRIPT = r"""
set -eu
exec 2>&1
say() { printf '### %s\n' "$*"; }
# A fresh Debian with python3 but without the venv module (Debian's python3-venv is a separate package).
apt-get purge -y -qq python3-venv python3.11-venv >/dev/null
python3 -m venv /tmp/probe >/dev/null 2>&1 && { echo "python3 -m venv should fail here"; exit 9; }
apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null
cd /work/repo
say "make validate (1)"
make validate
say "make validate (2)"
make validate
say "make test"
make test PYTEST_ARGS="$PYTEST_SELECTION"
say "predict"
.venv/bin/python -c "import ultralytics, onnxruntime, polygraphy, torch; print('torch', torch.__version__)"
say "done"
"""


def _docker_answers() -> bool:
    return (
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI runs the Docker tests, but {reason}")
    pytest.skip(reason)


def _copy_checkout(dest: Path) -> None:
    """What git tracks or would track (not ignored): a clone of this working tree, uncommitted edits included."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _sections(output: str) -> dict[str, str]:
    parts = output.split("### ")
    return {part.splitlines()[0]: part for part in parts[1:]}


def test_the_readme_set_up_on_a_fresh_debian_with_debians_python(tmp_path: Path) -> None:
    if not _docker_answers():
        _unavailable("no Docker engine answers")
    if not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy")
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode != 0:
        made = subprocess.run(
            [sys.executable, "-m", "builder", "offline-base"], cwd=REPO, capture_output=True, text=True, timeout=900
        )
        if made.returncode != 0:
            _unavailable(f"no {BASE} and `make offline-base` failed: {made.stderr.strip()[-300:]}")
    repo = tmp_path / "repo"
    _copy_checkout(repo)
    assert not (repo / ".venv").exists()
    mounts = [f"--volume={path}:{path}:ro" for path in PIP_CONFIG if os.path.exists(path)]
    cache = Path.home() / ".cache" / "pip"
    cache.mkdir(parents=True, exist_ok=True)
    selection = (
        "tests/test_readme.py tests/setup/test_setup_env.py -m 'not gpu and not docker and not slow' -k 'not build' "
        "-q -p no:cacheprovider"
    )
    argv = [
        "docker",
        "run",
        "--rm",
        f"--volume={repo}:/work/repo",
        f"--volume={cache}:/root/.cache/pip",
        *mounts,
        "--env=PIP_FIND_LINKS=/opt/wheels",
        "--env=PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        "--env=PIP_DEFAULT_TIMEOUT=60",
        f"--env=PYTEST_SELECTION={selection}",
        "--env=DEBIAN_FRONTEND=noninteractive",
        BASE,
        "bash",
        "-c",
        SCRIPT,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    sections = _sections(output)
    first, second, tests = sections["make validate (1)"], sections["make validate (2)"], sections["make test"]
    assert "making the virtual environment /work/repo/.venv with /usr/bin/python3 (Python 3.11)" in first
    assert "apt-get install python3-venv" in first and "is ready (host)" in first
    assert "==>" not in second, "the second run sets up nothing"
    assert "is ready (dev)" in tests and " passed" in tests and " failed" not in tests
    assert "torch 2.13.0+cpu" in sections["predict"]
    assert "Traceback" not in first + second
