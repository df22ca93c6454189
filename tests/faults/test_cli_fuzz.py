"""Fuzzing at the CLI's error boundary (tests/profile/test_fuzz.py fuzzes ``load_profile`` itself).

Whatever the profile file holds and whatever the arguments are, ``python -m builder`` answers with a documented
exit code and, on failure, ``ERROR`` lines followed by one ``TIP`` line: never a traceback, never exit 70.
Runs in-process (``builder.cli.main``) so a few hundred examples take seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.cli import main
from tests.faults.harness import ERROR_RE, TIP_RE, write_tiny_profiles

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PROFILE_TOKENS = [
    "name: fuzz\n",
    "extends: cpu-fp32\n",
    "extends: fuzz\n",
    "extends: ../x\n",
    "backend: ",
    "precision: ",
    "model:\n  ",
    "checkpoint: ",
    "yaml: ",
    "imgsz: ",
    "batch: ",
    "int8:\n  data: ",
    "verify:\n  ",
    "tolerances: ",
    "benchmark: ",
    "target: ",
    "fp16",
    "int8",
    "onnxruntime",
    "tensorrt",
    "64",
    "-1",
    "1e999",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!python/object/apply:os.system ['true']",
    "'",
    '"',
    "#",
    "~",
    "null",
    "yes",
    "\x00",
    "\x1b",
    "\ufeff",
    "é",
    "../../etc/passwd",
    "/abs.pt",
    "best.pt",
]
ARG_TOKENS = [
    "--profile",
    "--profiles-dir",
    "--artifacts",
    "--models",
    "--cache-dir",
    "--force",
    "--wait",
    "--image-id",
    "--no-run",
    "--json",
    "--help",
    "--version",
    "--",
    "-",
    "-x",
    "--frob",
    "--prof",
    "fuzz",
    "nope",
    "x.yaml",
    "../x",
    "../../etc/passwd",
    ".",
    "/",
    "",
    " ",
    "é",
    "cpu-fp32.yml",
    "-1",
    "=",
    "--profile=",
    "--profile=fuzz",
]
COMMANDS = ["build", "validate", "verify", "list", "frobnicate"]
EXIT_CODES = {0, 2, 5}


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def _run(argv: list[str]) -> tuple[int, str, str]:
    with _captured() as (out, err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and --version exit through argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _assert_clean(code: int, stdout: str, stderr: str, argv: list[str]) -> None:
    context = f"argv={argv!r}\nexit {code}\nstderr:\n{stderr[-2000:]}"
    assert code in EXIT_CODES, context
    assert "Traceback" not in stdout + stderr, context
    if code != 0:
        lines = [line for line in stderr.split("\n") if line.strip()]
        assert lines and ERROR_RE.match(lines[0]), context
        assert TIP_RE.match(lines[-1]), context
        assert all(ERROR_RE.match(line) or TIP_RE.match(line) for line in lines), context
        assert sum(bool(TIP_RE.match(line)) for line in lines) == 1, context


@pytest.fixture(scope="module")
def fuzz_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A profiles folder (cpu-fp32, its base, and the fuzzed ``fuzz.yaml``) set as the CLI's defaults."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    write_tiny_profiles(root / "profiles")
    saved = {
        k: os.environ.get(k) for k in ("ENGINE_FOUNDRY_PROFILES", "ENGINE_FOUNDRY_ARTIFACTS", "ENGINE_FOUNDRY_MODELS")
    }
    os.environ.update(
        ENGINE_FOUNDRY_PROFILES=str(root / "profiles"),
        ENGINE_FOUNDRY_ARTIFACTS=str(root / "artifacts"),
        ENGINE_FOUNDRY_MODELS=str(root / "models"),
    )
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@FUZZ
@given(st.lists(st.sampled_from(PROFILE_TOKENS), max_size=25).map("".join) | st.text(max_size=200))
@pytest.mark.slow  # hypothesis: hundreds of CLI runs
def test_any_profile_text_gets_a_clean_answer_from_validate_and_build(fuzz_dirs: Path, text: str) -> None:
    (fuzz_dirs / "profiles" / "fuzz.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    code, out, err = _run(["validate", "fuzz"])
    _assert_clean(code, out, err, ["validate", "fuzz"])
    if code != 0:  # a valid fuzzed profile would really be built: only the refusals go through build
        argv = ["build", "--profile", "fuzz"]
        code, out, err = _run(argv)
        assert code != 0, f"validate refused {text!r} but build accepted it"
        _assert_clean(code, out, err, argv)


#: arguments as a shell passes them: any printable text (control characters: see the test below)
PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)


@FUZZ
@given(st.sampled_from(COMMANDS), st.lists(st.sampled_from(ARG_TOKENS) | PRINTABLE, max_size=6))
@pytest.mark.slow  # hypothesis: hundreds of CLI runs
def test_any_arguments_get_a_clean_answer(fuzz_dirs: Path, command: str, args: list[str]) -> None:
    (fuzz_dirs / "profiles" / "fuzz.yaml").write_text("name: fuzz\nbackend: nonsense\n")
    argv = [command, *args]
    if command == "build":  # never build for real: only an invalid profile and no weights are reachable
        argv += ["--profiles-dir", str(fuzz_dirs / "profiles"), "--profile", "fuzz"]
    code, out, err = _run(argv)
    _assert_clean(code, out, err, argv)


@pytest.mark.parametrize("arg", ["\n0", "\r", "bad\x1b[2Jname"])
def test_control_characters_in_arguments_stay_on_one_error_line(fuzz_dirs: Path, arg: str) -> None:
    for argv in (["validate", arg], ["build", arg]):
        code, out, err = _run(argv)
        _assert_clean(code, out, err, argv)
        assert all(ch.isprintable() for ch in err.replace("\n", "")), repr(err)
