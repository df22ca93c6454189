"""Issue 10, item 10: a corrupt timing-cache file, the trtexec wording, and docs that cite only real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import builder.backends.tensorrt as backend
from builder.backends.tensorrt.timing_cache import timing_cache_path
from builder.backends.tensorrt.versions import parse_trt_version
from builder.errors import EngineBuildError, ExitCode
from tests.backends.tensorrt.test_trt_backend import build_ctx, trt_profile
from tests.backends.tensorrt.trt_fakes import CORRUPT_CACHE, H100, install, make_fake_trt
from tests.support import REPO


def test_a_corrupt_timing_cache_is_an_error_with_a_tip_not_a_type_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    install(monkeypatch, make_fake_trt("8.6.1.6"))
    shared = tmp_path / "cache"
    path = timing_cache_path(shared, "default", H100, parse_trt_version("8.6.1.6"))
    path.parent.mkdir(parents=True)
    path.write_bytes(CORRUPT_CACHE + b"\x13\x37 half a cache")
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(timing_cache="default"), cache_dir=shared)
    with pytest.raises(EngineBuildError) as err:
        backend.build(ctx, ctx.workdir / "model.onnx")
    assert f"the timing cache {path}" in err.value.message and "corrupt or truncated" in err.value.message
    assert f"delete {path}" in (err.value.hint or "") and err.value.exit_code == ExitCode.STAGE


def test_trtexec_iterations_are_not_called_exact() -> None:
    from builder.backends.tensorrt import trtexec

    assert "exactly ``iterations``" not in (trtexec.trtexec_command.__doc__ or "")
    docs = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    rows = {
        doc: line
        for doc in docs
        for line in doc.read_text().splitlines()
        if line.startswith("| `benchmark.iterations`, `benchmark.budget_s` |")
    }
    assert REPO / "docs" / "tensorrt.md" in rows  # the TensorRT table's home; any doc that repeats the row too
    for doc, row in rows.items():
        assert "approximately" in row and "at least" in row, doc


def test_docs_and_code_cite_no_markdown_file_missing_from_the_repository() -> None:
    cited: dict[str, set[str]] = {}
    files = [
        REPO / "README.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "builder").rglob("*.py"),
        *(REPO / "tests" / "backends" / "tensorrt").glob("*.py"),
    ]
    for file in files:
        for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", file.read_text(encoding="utf-8")):
            cited.setdefault(name, set()).add(str(file.relative_to(REPO)))
    generated = {"OPS.md"}  # written into each bundle by builder/ops/opsdoc.py
    missing = {name: where for name, where in cited.items() if name not in generated and not list(REPO.rglob(name))}
    assert not missing, missing
