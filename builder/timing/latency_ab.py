"""Two builds' models timed side by side, interleaved, on the same machine at the same time.

A p50 measured last night and one measured tonight differ by whatever the machine did in between (on a shared
2-core host by 60 % with identical bytes). So when the nightly finds the model's bytes changed, it times the
previous good model and the new one here, in alternating rounds (A B, B A, A B, ...): a load that comes and goes
hits both alike, and the round-to-round spread of the new/previous ratio is the run-to-run noise the change is
judged against (:func:`builder.ops.drift.interleaved_latency_changes`).

Runs where the backend does (in the image, or ``--bare``): each model through its backend's Polygraphy runner
(:func:`builder.backends.registry.get_backend` ``.make_runner``), on one seeded random batch of the profile's shape.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from builder.errors import ArtifactError, BenchmarkError, first_line
from builder.profile import Profile

RESULT_PREFIX = "LATENCY-AB "  # the one stdout line that carries the result out of a container
ROUNDS = 6
PER_ROUND = 10  # timed calls per model per round (after the warm-up)
WARMUP = 5
BUDGET_S = 20.0  # both models, all rounds; fewer calls per round when one call is slow
SEED = 0


def model_path(build_dir: Path) -> Path:
    """The published model (the manifest's artifact of kind ``model``) of ``build_dir``.

    Raises:
        ArtifactError: no readable manifest, or no model artifact in it.
    """
    from builder.record.layout import MANIFEST_NAME
    from builder.record.manifest_read import read_manifest

    model = read_manifest(build_dir / MANIFEST_NAME).model
    if model is not None:
        return build_dir / model.path
    raise ArtifactError(f"{build_dir}: the manifest lists no model artifact", hint="compare two published builds")


def measure_interleaved(
    profile: Profile,
    previous: Path,
    new: Path,
    *,
    rounds: int = ROUNDS,
    per_round: int = PER_ROUND,
    budget_s: float = BUDGET_S,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Time the models of build folders ``previous`` and ``new`` in ``rounds`` alternating rounds.

    Returns ``{"previous": {"path", "round_p50_ms"}, "new": {...}, "ratios", "rounds", "per_round", "order"}``:
    per round the median of ``per_round`` calls of each model, and their ratio new/previous.

    Raises:
        BenchmarkError: a model cannot be loaded or run.
    """
    import numpy as np

    from builder.backends.registry import get_backend
    from builder.yolo.shapes import input_shape

    backend = get_backend(profile.backend.value)
    paths = {"previous": model_path(previous), "new": model_path(new)}
    feed_array = np.random.default_rng(SEED).random(input_shape(profile, profile.batch.opt), dtype=np.float32)
    runners = {name: backend.make_runner(path, profile) for name, path in paths.items()}
    medians: dict[str, list[float]] = {"previous": [], "new": []}
    order: list[str] = []
    try:
        for runner in runners.values():
            runner.activate()
        feeds = {name: {_input_name(r): feed_array} for name, r in runners.items()}

        def once(name: str) -> float:
            runners[name].infer(feeds[name])
            return float(runners[name].last_inference_time()) * 1000.0

        for name in runners:
            for _ in range(WARMUP):
                once(name)
        start = clock()
        for index in range(rounds):
            pair = ("previous", "new") if index % 2 == 0 else ("new", "previous")
            order.append("".join("A" if n == "previous" else "B" for n in pair))
            left = max(0.0, budget_s - (clock() - start)) / max(1, rounds - index) / 2  # this round's share
            for name in pair:
                times: list[float] = []
                began = clock()
                while len(times) < per_round and (len(times) < 3 or clock() - began < left):
                    times.append(once(name))
                medians[name].append(statistics.median(times))
    except Exception as err:  # Polygraphy / ORT / TensorRT raise their own types
        raise BenchmarkError(
            f"timing the previous and new models side by side failed: {first_line(err)}",
            hint="run `engine-foundry verify` on both build folders",
        ) from err
    finally:
        for runner in runners.values():
            if getattr(runner, "is_active", False):
                runner.deactivate()
    ratios = [b / a for a, b in zip(medians["previous"], medians["new"], strict=True) if a > 0]
    return {
        "method": "interleaved",
        "rounds": rounds,
        "per_round": per_round,
        "order": order,
        "previous": {"path": str(paths["previous"]), "round_p50_ms": [round(v, 4) for v in medians["previous"]]},
        "new": {"path": str(paths["new"]), "round_p50_ms": [round(v, 4) for v in medians["new"]]},
        "ratios": [round(r, 4) for r in ratios],
    }


def _input_name(runner: Any) -> str:
    return str(next(iter(runner.get_input_metadata(use_numpy_dtypes=False).keys())))


def result_line(result: dict[str, Any]) -> str:
    """The stdout line a container prints so the host can read the result from its log."""
    return RESULT_PREFIX + json.dumps(result, sort_keys=True)


def parse_result_line(line: str) -> dict[str, Any] | None:
    """The result of :func:`result_line` (None for any other line)."""
    if not line.startswith(RESULT_PREFIX):
        return None
    data = json.loads(line[len(RESULT_PREFIX) :])
    return data if isinstance(data, dict) else None
