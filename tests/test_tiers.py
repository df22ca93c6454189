"""The test tiers hold by rule (tests/tiers.py): a test using a real build or export fixture is `slow`, before `-m`
selects; no fast-tier test requests one; a fast-tier test that exports anyway fails, naming the fix."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support import REPO
from tests.tiers import HEAVY_FIXTURES, heavy_reasons


def test_no_test_of_this_run_requests_a_heavy_fixture_unless_it_is_slow(request: pytest.FixtureRequest) -> None:
    """In `make test` (``-m "not slow"``) this is: no fast-tier test requests a heavy fixture."""
    unmarked = [
        f"{item.nodeid}: {', '.join(heavy_reasons(item))}"
        for item in request.session.items
        if heavy_reasons(item) and not item.get_closest_marker("slow")
    ]
    assert unmarked == []


def _fixture_names() -> set[str]:
    names = set()
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                names.add(node.name)
    return names


def test_every_heavy_fixture_name_is_a_fixture() -> None:
    """A renamed fixture would silently leave the rule: every name in HEAVY_FIXTURES must still be defined."""
    assert sorted(HEAVY_FIXTURES - _fixture_names()) == []


def test_the_rule_marks_before_the_marker_expression_selects() -> None:
    """A test that requests a heavy fixture only through another fixture (``tiny_cpu_build`` -> ``published_tiny``)
    is left out of `make test`'s selection (that it is then `slow` is the first test here, in `make test-all`)."""
    heavy = "tests/ops/test_bundle.py::test_real_build_bundle_loads_and_runs_one_inference"
    light = "tests/ops/test_bundle.py::test_sha256sum_c_in_the_bundles_build_folder_checks_exactly_what_it_holds"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "not gpu and not slow",
    ]
    done = subprocess.run([*argv, "tests/ops/test_bundle.py"], cwd=REPO, capture_output=True, text=True, check=False)
    fast = done.stdout.splitlines()
    assert light in fast and heavy not in fast, done.stdout + done.stderr


def test_a_fast_tier_test_that_completes_a_real_export_fails_naming_the_fix() -> None:
    from builder.pipeline.stages import export as export_stage
    from tests.tiers import guard_export

    assert export_stage.run.__wrapped__ is not None  # installed for the session (tests/conftest.py)
    exported = guard_export(lambda: "an export's result")
    with pytest.raises(pytest.fail.Exception, match=r"ran a real ONNX export but is in the fast tier.*HEAVY_FIXTURES"):
        exported()
    refused = guard_export(lambda: (_ for _ in ()).throw(FileNotFoundError("absent.pt")))
    with pytest.raises(FileNotFoundError):  # an export refused early passes through: fast tests check those
        refused()
