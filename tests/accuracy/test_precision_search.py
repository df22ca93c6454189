"""The precision search on real quantization of the trained fixture (ONNX Runtime on this CPU, nothing injected).

The profile's own gate (``accuracy.max_map_drop: 1.0``) is looser than the search's budget (0.01): the fully
quantized plan passes that gate, yet the search refuses it for breaking the budget and publishes a plan within it.
A rebuild with the same inputs reuses the cached plan without searching.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.pipeline.run import BuildSettings, run_build
from builder.profile import Int8Search, load_profile
from tests.support import REPO

pytestmark = pytest.mark.slow
BUDGET = 0.01


def _build_details(profile: Any, models: Path, out: Path, cache: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = BuildSettings(artifacts=out, models=models, cache_dir=cache, force=True, log=lambda line: None)
    manifest = json.loads((run_build(profile, settings).build_dir / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]} if isinstance(manifest["stages"], list) else manifest["stages"]
    return stages["build"]["details"], stages["evaluate"]["details"]


def test_the_search_refuses_a_faster_plan_over_budget_and_reuses_its_plan(models_dir: Path, tmp_path: Path) -> None:
    base = load_profile("cpu-int8", REPO / "profiles")
    assert base.int8 is not None and base.accuracy is not None
    profile = replace(
        base,
        int8=replace(base.int8, samples=8, search=Int8Search(max_map_drop=BUDGET, max_candidates=4)),
        accuracy=replace(base.accuracy, samples=40, max_map_drop=1.0),  # the looser gate
        benchmark=replace(base.benchmark, warmup=1, iterations=3),
    )
    build, evaluate = _build_details(profile, models_dir, tmp_path / "a", tmp_path / "cache")
    search = build["int8"]["search"]
    table = {row["name"]: row for row in search["pareto"]}
    assert search["status"] == "searched" and 2 <= len(table) <= 4
    assert all(row["latency_ms"] > 0 and 0 <= row["map50_95"] <= 1 for row in table.values())

    everything = table["all-int8"]  # every group quantized: the fastest plan there is, and a real loss
    assert not everything["passed"] and everything["map50_95_drop"] > BUDGET
    assert everything["map50_95_drop"] < 1.0  # the profile's own gate would have let it through
    assert everything["why"].startswith("over the budget")
    chosen = table[search["plan"]["candidate"]]
    assert chosen["passed"] and chosen["map50_95_drop"] <= BUDGET and chosen["name"] != "all-int8"
    assert search["plan"]["float_groups"] == chosen["float_groups"] and search["plan"]["float_groups"]
    assert set(search["plan"]["why"]) == set(chosen["float_groups"])
    assert build["int8"]["head"]["mode"] == "plan" and build["int8"]["head"]["nodes_in_float"] > 0
    assert evaluate["map50_95_drop"] == pytest.approx(chosen["map50_95_drop"], abs=0.002)  # the same model, scored
    cost = search["cost"]
    assert cost["models_evaluated"] == len(table) + 1 and cost["seconds"] > 0 and "sensitivity" in cost["by_step"]
    assert Path(search["plan_cache"]).is_file() and Path(search["plan_cache"] + ".key.json").is_file()

    again, _ = _build_details(profile, models_dir, tmp_path / "b", tmp_path / "cache")
    reused = again["int8"]["search"]
    assert reused["status"] == "reused plan" and reused["plan"] == search["plan"]
    assert again["int8"]["head"]["nodes_in_float"] == build["int8"]["head"]["nodes_in_float"]

    stricter = replace(profile, int8=replace(profile.int8, search=Int8Search(max_map_drop=0.005, max_candidates=2)))
    other = _build_details(stricter, models_dir, tmp_path / "c", tmp_path / "cache")[0]["int8"]["search"]
    assert other["status"] == "searched" and other["plan_cache"] != search["plan_cache"]  # another key, another file
