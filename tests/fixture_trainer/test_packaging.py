"""The training tool is a package beside ``builder``: the CLI offers its commands only where it is installed."""

from __future__ import annotations

import subprocess
import sys

import tomllib

from tests.support import REPO


def _subcommands(prelude: str) -> set[str]:
    code = (
        f"import sys; {prelude}\n"
        "import argparse, builder.cli as c\n"
        "p = c.build_parser()\n"
        "sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))\n"
        "print(' '.join(sorted(sub.choices)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_the_cli_offers_the_fixture_commands_where_the_trainer_is_installed() -> None:
    assert {"fixture-model", "fixture-data", "build", "doctor"} <= _subcommands("")


def test_the_cli_starts_without_the_trainer_as_in_the_image() -> None:
    """The image copies builder/ only: ``import fixture_trainer`` fails there, every other command stays."""
    without = _subcommands("sys.modules['fixture_trainer'] = None")
    assert not {"fixture-model", "fixture-data"} & without
    assert without == _subcommands("") - {"fixture-model", "fixture-data"}


def test_pip_installs_both_packages_and_the_image_only_the_product() -> None:
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {"builder*", "fixture_trainer*"} <= set(find["include"])
    assert "COPY fixture_trainer" not in (REPO / "Dockerfile").read_text()
