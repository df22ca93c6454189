"""The precision search (``int8.search``): the fastest INT8 plan whose mAP stays within the budget.

A *plan* is the set of node groups kept in float; everything else is quantized by the one Q/DQ quantizer
(:func:`builder.backends.ort_quantize.quantize`). Groups (:func:`node_groups`): each ultralytics module
``/model.N/`` of backbone and neck, each convolution branch of the detection head (``cv2.0``, ``cv3.1`` ...), and the
head's decode split by sub-module and op type (``dfl/Conv``, ``Reshape`` ...); only nodes ONNX Runtime's QDQ
quantizer would quantize are grouped (keeping any other node "in float" changes nothing).

1. **Sensitivity**, measured, not assumed: the model with every group quantized is run beside the FP32 model on
   calibration images through ONNX Runtime's QDQ debugging tools (``onnxruntime.quantization.qdq_loss_debug``);
   each group's score is the lowest signal-to-quantization-noise ratio (dB) of the tensors it quantizes.
2. **Candidates**, each quantized, timed (ONNX Runtime, this CPU) and scored on the ``accuracy`` split by
   :func:`builder.yolo.evaluation.evaluate` (ultralytics' letterbox, NMS and metrics, as the ``evaluate`` stage):
   the fixed rule (``int8.head``), every group quantized, then greedily: while the plan breaks the budget, keep the
   most sensitive quantized group in float; once it passes, try quantizing the least sensitive half of the float
   groups at once (halving the step after a failure), and keep a step that still passes. At most
   ``max_candidates`` models are made.
3. **Choice**: the candidates within ``max_map_drop`` are timed again, interleaved (round-robin, so load on the
   machine hits them alike), and the fastest is published. A candidate over the budget is never published, however
   fast; if none passes, the build fails with the Pareto table in the message's details.

**TensorRT** (``backend: tensorrt`` with ``int8.search``): the same search, run where the TensorRT build runs
(ONNX Runtime on that host's CPU), with the TensorRT placement (:data:`~builder.backends.ort_quantize.TENSORRT`:
symmetric INT8, Q/DQ before weighted ops and pooling/resize only), so the groups are the ones that placement
quantizes and every candidate is the very Q/DQ model TensorRT would parse. What transfers: the sensitivity and the
mAP of each candidate (the same Q/DQ arithmetic; TensorRT fuses each pair into its layer, and on 8.6 may run the
layers left in float in FP16, so its mAP can differ slightly: the ``evaluate`` stage scores the engine itself).
What does not: latency. A CPU's ranking of INT8 plans says nothing about a GPU's kernels, so candidates are not
timed there and the plan published is the passing candidate with the fewest nodes kept in float (the most
quantized); ``search.selection`` and ``search.transfers`` say so in the manifest. The plan drives TensorRT as Q/DQ
placement (the float groups get no Q/DQ), never as layer-precision pins.

The plan is cached (``<cache>/precision-plans/``), keyed by everything the search read (:class:`PlanKey`: the
model's digest, the calibration images, the accuracy split's content digest, the budget, ONNX Runtime's version):
an unchanged rebuild quantizes the cached plan at once, without searching; other inputs make another key, hence
another file. Cost: one calibration, one sensitivity pass and ``max_candidates`` x (quantize + evaluate + time);
each of those grows linearly with the model's FLOPs and the image area, so a model 10x YOLO11n's size costs about
10x as long.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.calibration_cache import check_cache, key_as_json, publish_cache
from builder.backends.ort_quantize import QdqTarget
from builder.errors import EngineBuildError
from builder.profile import Profile

SEARCH_VERSION = 1
FOLDER = "precision-plans"
SENSITIVITY_IMAGES = 4  # calibration images run through both models for the per-tensor error
TIMING_RUNS = 20  # per candidate while searching (budget-capped)
FINAL_ROUNDS = 5  # interleaved rounds over the passing candidates
RULE, ALL_INT8 = "rule", "all-int8"


@dataclass(frozen=True)
class PlanKey:
    """Everything the searched plan depends on; stored next to it as JSON."""

    search_version: int
    onnxruntime: str
    onnx_sha256: str
    calibration: dict[str, Any]  # the ONNX Runtime calibration key (images, digest, method, ...)
    accuracy_data: str
    accuracy_split: str
    accuracy_samples: int | None
    accuracy_sha256: str
    max_map_drop: float
    max_candidates: int
    head_rule: str
    imgsz: tuple[int, int]
    batch: int
    target: str

    def to_dict(self) -> dict[str, Any]:
        return key_as_json(self)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Candidate:
    """One plan tried: the groups kept in float, its latency and mAP, and the verdict."""

    name: str
    float_groups: tuple[str, ...]
    latency_ms: float = 0.0
    map50_95: float = 0.0
    drop: float = 0.0
    passed: bool = False
    why: str = ""
    final_latency_ms: float | None = None
    nodes_in_float: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "float_groups": list(self.float_groups),
            "latency_ms": round(self.latency_ms, 3) if self.latency_ms else None,  # None: not timed (TensorRT)
            "final_latency_ms": None if self.final_latency_ms is None else round(self.final_latency_ms, 3),
            "map50_95": round(self.map50_95, 4),
            "map50_95_drop": round(self.drop, 4),
            "nodes_in_float": self.nodes_in_float,
            "passed": self.passed,
            "why": self.why,
        }


@dataclass
class SearchCost:
    seconds: dict[str, float] = field(default_factory=dict)
    models_quantized: int = 0
    models_evaluated: int = 0

    def add(self, what: str, started: float) -> None:
        self.seconds[what] = round(self.seconds.get(what, 0.0) + time.perf_counter() - started, 3)


def node_groups(nodes: Sequence[tuple[str, str]], quantized_ops: Iterable[str]) -> dict[str, list[str]]:
    """Group ``(name, op_type)`` nodes whose op ONNX Runtime quantizes: ``/model.N/`` modules, head branches,
    head decode by sub-module and op (``/model.23/dfl/Conv``); unnamed nodes go to ``other``."""
    from builder.backends.ort_quantize import head_prefix

    ops = set(quantized_ops)
    head = head_prefix(name for name, _ in nodes)
    groups: dict[str, list[str]] = {}
    for name, op in nodes:
        if op not in ops:
            continue
        module = re.search(r"/model\.(\d+)/", name)
        if head and head in name:
            rest = name.split(head, 1)[1]
            branch = re.match(r"((?:one2one_)?cv\d+\.\d+)/", rest)
            sub = re.match(r"([A-Za-z_][\w]*)/", rest)
            if branch:
                key = head + branch.group(1)
            elif sub:
                key = f"{head}{sub.group(1)}/{op}"
            else:
                key = f"{head}{op}"
        elif module:
            key = f"/model.{module.group(1)}/"
        else:
            key = "other"
        groups.setdefault(key, []).append(name)
    return groups


def group_scores(errors: Mapping[str, Mapping[str, float]], consumers: Mapping[str, list[str]],
                 node_group: Mapping[str, str]) -> dict[str, float]:  # fmt: skip
    """Each group's lowest SQNR (dB) over the tensors its nodes read (``errors``: ``compute_activation_error``)."""
    scores: dict[str, float] = {}
    for tensor, err in errors.items():
        value = err.get("qdq_err")
        if value is None:
            continue
        for node in consumers.get(tensor, []):
            group = node_group.get(node)
            if group is not None:
                scores[group] = min(scores.get(group, float("inf")), float(value))
    return scores


def greedy_next(
    current: tuple[str, ...], passed: bool, order: Sequence[str], tried: set[tuple[str, ...]], chunk: int = 1
) -> tuple[str, ...] | None:
    """The next plan to try (groups in float), or None. ``order``: groups most sensitive first.

    Breaking the budget: keep the most sensitive quantized group in float too. Passing: quantize the ``chunk``
    least sensitive float groups at once (then smaller chunks, then the next ones), so a long tail of harmless
    groups costs a few candidates, not one each. A plan already tried is skipped.
    """
    if not passed:
        adds = [tuple(sorted({*current, g})) for g in order if g not in current]
        return next((step for step in adds if step not in tried), None)
    removable = [g for g in reversed(order) if g in current]
    size = max(1, chunk)
    while True:
        for start in range(0, len(removable), size):
            dropped = set(removable[start : start + size])
            step = tuple(g for g in current if g not in dropped)
            if step not in tried:
                return step
        if size == 1:
            return None
        size = max(1, size // 2)


def plan_paths(cache_dir: Path, profile_name: str, key: PlanKey) -> tuple[Path, Path]:
    from builder.backends.tensorrt.timing_cache import slug

    plan = cache_dir / FOLDER / f"{slug(profile_name)}-{key.digest()}.json"
    return plan, plan.with_name(plan.name + ".key.json")


class _Images:
    """A ``CalibrationDataReader`` over the first letterboxed calibration images."""

    def __init__(self, images: list[Path], imgsz: tuple[int, int], batch: int, input_name: str) -> None:
        from builder.backends.ort_quantize import _Reader

        self.reader = _Reader(images, imgsz, batch, input_name)

    def get_next(self) -> dict[str, Any] | None:
        return self.reader.get_next()

    def rewind(self) -> None:
        self.reader.rewind()

    def __iter__(self) -> Iterator[dict[str, Any]]:  # collect_activations iterates (CalibrationDataReader does)
        self.reader.rewind()
        while (item := self.reader.get_next()) is not None:
            yield item


def sensitivity(float_model: Path, int8_model: Path, images: list[Path], imgsz: tuple[int, int], batch: int,
                input_name: str, scratch: Path) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per-tensor quantization error (``qdq_err``, ``xmodel_err`` in dB) from ONNX Runtime's QDQ debugging tools."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    acts = {}
    for name, model in (("float", float_model), ("qdq", int8_model)):
        augmented = scratch / f"sensitivity-{name}.onnx"
        modify_model_output_intermediate_tensors(str(model), str(augmented))
        acts[name] = collect_activations(str(augmented), _Images(images, imgsz, batch, input_name))
        augmented.unlink(missing_ok=True)
    return compute_activation_error(create_activation_matching(acts["qdq"], acts["float"]))


def _latencies(models: Sequence[Path], shape: tuple[int, ...], input_name: str, runs: int, rounds: int) -> list[float]:
    """Median ms per model, timed round-robin (``rounds`` rounds of ``runs`` runs each) after one warm-up each."""
    import numpy as np
    import onnxruntime as ort

    feed = {input_name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    sessions = [ort.InferenceSession(str(m), providers=["CPUExecutionProvider"]) for m in models]
    for session in sessions:
        session.run(None, feed)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for index, session in enumerate(sessions):
            for _ in range(runs):
                started = time.perf_counter()
                session.run(None, feed)
                times[index].append((time.perf_counter() - started) * 1000.0)
    return [statistics.median(t) for t in times]


@dataclass(frozen=True)
class SearchInputs:
    """What the search reads besides the profile."""

    onnx_path: Path
    out: Path
    input_name: str
    output_name: str
    models_dir: Path
    scratch: Path
    cache_dir: Path | None
    key_inputs: Mapping[str, object] | None
    runner: Callable[[Path], Any]  # a Polygraphy runner for a model (the onnxruntime backend's, as evaluate uses)


#: what a TensorRT plan searched on CPU carries over, recorded in the manifest (docs/accuracy.md)
TRANSFERS = {
    "accuracy": "transfers: each candidate is the Q/DQ model TensorRT parses, scored by ONNX Runtime on CPU; "
    "TensorRT's fused kernels (and FP16 for the float layers on 8.6) can move mAP slightly, and the evaluate stage "
    "scores the engine itself",
    "sensitivity": "transfers: the quantization error of each tensor is the Q/DQ arithmetic, not the runtime's",
    "latency": "does not transfer: CPU latency does not rank GPU plans; candidates are not timed and the passing "
    "plan with the fewest nodes in float is published",
}


def pick(passing: Sequence[Candidate], timed: bool) -> Candidate:
    """The plan to publish: the fastest re-timed one when the search timed its candidates (ONNX Runtime on this
    CPU), else the most quantized one (fewest nodes in float; the first found on a tie)."""
    if timed:
        return min(passing, key=lambda c: c.final_latency_ms or c.latency_ms)
    return min(passing, key=lambda c: c.nodes_in_float)


def search_plan(
    profile: Profile, inputs: SearchInputs, log: Callable[[str], None], target: QdqTarget | None = None
) -> dict[str, Any]:
    """Search (or reuse) the plan, write its model to ``inputs.out``; return what the manifest records.

    ``target``: the Q/DQ placement searched (ONNX Runtime's CPU placement by default; TensorRT's for a TensorRT
    profile: then candidates are scored but not timed, see the module docstring).

    Raises:
        EngineBuildError: no candidate stays within the budget (the Pareto table is in the message).
        DatasetError: the ``accuracy`` split is missing or malformed.
        ImageError: the calibration images are missing or too few.
    """
    import onnx
    import onnxruntime as ort

    from builder.backends.ort_calibration import calibration_key
    from builder.backends.ort_quantize import (
        ONNXRUNTIME_CPU,
        calibration_method,
        float_nodes,
        quantize,
        quantized_op_types,
    )
    from builder.common.hashing import sha256_file
    from builder.yolo.calibration_data import calibration_set
    from builder.yolo.dataset import load_split
    from builder.yolo.evaluation import evaluate
    from builder.yolo.shapes import input_shape

    spec, accuracy = profile.int8, profile.accuracy
    if spec is None or spec.search is None or accuracy is None:  # the profile loader requires these together
        raise EngineBuildError("int8.search without its `accuracy` block", hint="add `accuracy: {data: ...}`")
    target = target or ONNXRUNTIME_CPU
    timed = target.runtime == ONNXRUNTIME_CPU.runtime  # CPU latency ranks CPU plans only
    budget, batch, started_all = spec.search.max_map_drop, profile.batch.opt, time.perf_counter()
    cost = SearchCost()
    data = calibration_set(inputs.models_dir, spec.data, spec.samples, inputs.key_inputs)
    split = load_split(inputs.models_dir, accuracy.data, accuracy.split, accuracy.samples)
    onnx_sha = sha256_file(inputs.onnx_path)
    calib = calibration_key(data, spec.data, spec.samples, profile.imgsz, batch, onnx_sha,
                            version=ort.__version__, method=calibration_method(target))  # fmt: skip
    key = PlanKey(SEARCH_VERSION, ort.__version__, onnx_sha, calib.to_dict(), accuracy.data, accuracy.split,
                  accuracy.samples, split.content_sha256(), budget, spec.search.max_candidates, spec.head,
                  (profile.imgsz[0], profile.imgsz[1]), batch, target.runtime)  # fmt: skip
    graph = onnx.load(str(inputs.onnx_path), load_external_data=False).graph
    nodes = [(n.name, n.op_type) for n in graph.node]
    groups = node_groups(nodes, quantized_op_types(target))

    def make(float_groups: Sequence[str], out: Path) -> dict[str, Any]:
        t0 = time.perf_counter()
        names = [n for g in float_groups for n in groups.get(g, [])]
        record = quantize(
            inputs.onnx_path, out, profile, inputs.models_dir, inputs.input_name, scratch=inputs.scratch,
            cache_dir=inputs.cache_dir, key_inputs=inputs.key_inputs, log=lambda line: None, float_names=names,
            target=target,
        )  # fmt: skip
        cost.models_quantized += 1
        cost.add("quantize", t0)
        return record

    cached = _cached_plan(inputs.cache_dir, profile.name, key)
    if cached is not None:
        plan = cached["plan"]
        log(f"build: precision plan reused from {cached['path']} ({len(plan['float_groups'])} group(s) in float)")
        record = make(plan["float_groups"], inputs.out)
        return {**record, "search": {**cached["search"], "status": "reused plan", "plan_cache": cached["path"]}}

    log(f"build: precision search over {len(groups)} node group(s), budget {budget:g} mAP50-95, "
        f"at most {spec.search.max_candidates} candidates")  # fmt: skip
    t0 = time.perf_counter()
    reference = evaluate(inputs.runner(inputs.onnx_path), inputs.input_name, inputs.output_name, split,
                         profile.imgsz, batch)  # fmt: skip
    cost.models_evaluated += 1
    cost.add("evaluate", t0)

    work = inputs.scratch / "precision-search"
    work.mkdir(parents=True, exist_ok=True)
    all_int8 = work / "all-int8.onnx"
    make((), all_int8)
    t0 = time.perf_counter()
    errors = sensitivity(inputs.onnx_path, all_int8, list(data.images)[: SENSITIVITY_IMAGES * batch], profile.imgsz,
                         batch, inputs.input_name, work)  # fmt: skip
    cost.add("sensitivity", t0)
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node.name)
    node_group = {n: g for g, members in groups.items() for n in members}
    scores = group_scores(errors, consumers, node_group)
    order = sorted(scores, key=lambda g: scores[g])  # most sensitive (lowest SQNR) first
    rule_float = set(float_nodes([n for n, _ in nodes], spec.head)[1])
    rule_groups = tuple(sorted(g for g, members in groups.items() if set(members) & rule_float))

    candidates: list[Candidate] = []
    files: dict[str, Path] = {ALL_INT8: all_int8}
    shape = input_shape(profile, batch)

    def judge(cand: Candidate, model: Path) -> Candidate:
        cand.nodes_in_float = sum(len(groups.get(g, [])) for g in cand.float_groups)
        if timed:
            t1 = time.perf_counter()
            cand.latency_ms = _latencies([model], shape, inputs.input_name, TIMING_RUNS, 1)[0]
            cost.add("timing", t1)
        t1 = time.perf_counter()
        result = evaluate(inputs.runner(model), inputs.input_name, inputs.output_name, split, profile.imgsz, batch)
        cost.models_evaluated += 1
        cost.add("evaluate", t1)
        cand.map50_95, cand.drop = result.map50_95, reference.map50_95 - result.map50_95
        cand.passed = cand.drop <= budget
        cand.why = (f"within the budget (drop {cand.drop:.4f} <= {budget:g})" if cand.passed
                    else f"over the budget (drop {cand.drop:.4f} > {budget:g})")  # fmt: skip
        candidates.append(cand)
        speed = f"{cand.latency_ms:.2f} ms" if timed else "not timed"
        log(f"build: candidate {cand.name}: {len(cand.float_groups)} group(s) in float, "
            f"{speed}, mAP50-95 {cand.map50_95:.4f} ({cand.why})")  # fmt: skip
        return cand

    judge(Candidate(ALL_INT8, ()), all_int8)
    tried: set[tuple[str, ...]] = {()}
    current: tuple[str, ...] = rule_groups
    passed_now = False
    if rule_groups not in tried:
        files[RULE] = work / "rule.onnx"
        make(rule_groups, files[RULE])
        passed_now = judge(Candidate(RULE, rule_groups), files[RULE]).passed
        tried.add(rule_groups)
    step = 0
    chunk = max(1, len(current) // 2)  # once passing: quantize half the float groups at once, halving on failure
    while len(candidates) < spec.search.max_candidates:
        nxt = greedy_next(current, passed_now, order, tried, chunk)
        if nxt is None:
            break
        step += 1
        name = f"greedy-{step}"
        files[name] = work / f"{name}.onnx"
        make(nxt, files[name])
        tried.add(nxt)
        cand = judge(Candidate(name, nxt), files[name])
        if cand.passed or not passed_now:  # a passing step is kept; while failing, keep adding float groups
            if cand.passed and not passed_now:
                chunk = max(1, len(nxt) // 2)
            current, passed_now = nxt, cand.passed
        else:
            chunk = max(1, chunk // 2)

    passing = [c for c in candidates if c.passed]
    if not passing:
        table = "; ".join(f"{c.name}: drop {c.drop:.4f}, {c.nodes_in_float} node(s) in float" for c in candidates)
        raise EngineBuildError(
            f"the precision search found no plan within max_map_drop {budget:g} in {len(candidates)} candidates "
            f"({table})",
            hint="raise int8.search.max_candidates or max_map_drop, or drop `int8.search` to build int8.head's rule",
        )
    if timed:
        t0 = time.perf_counter()
        finals = _latencies([files[c.name] for c in passing], shape, inputs.input_name, 5, FINAL_ROUNDS)
        cost.add("timing", t0)
        for cand, ms in zip(passing, finals, strict=True):
            cand.final_latency_ms = ms
    best = pick(passing, timed)
    record = make(best.float_groups, inputs.out)
    cost.models_quantized -= 1  # the published copy is not a search step
    search: dict[str, Any] = {
        "status": "searched",
        "version": SEARCH_VERSION,
        "max_map_drop": budget,
        "target": target.runtime,
        "selection": "fastest passing plan, re-timed interleaved on this CPU"
        if timed
        else "most quantized passing plan (fewest nodes in float): CPU latency does not rank TensorRT plans",
        **({} if timed else {"transfers": TRANSFERS}),
        "reference_map50_95": round(reference.map50_95, 4),
        "plan": {
            "candidate": best.name,
            "float_groups": list(best.float_groups),
            "why": {
                g: f"SQNR {scores.get(g, float('nan')):.1f} dB; " + _why(g, best, candidates) for g in best.float_groups
            },  # fmt: skip
            "nodes_in_float": sum(len(groups[g]) for g in best.float_groups),
        },
        "pareto": [c.row() for c in candidates],
        "sensitivity_db": {g: round(scores[g], 2) for g in order},
        "groups": len(groups),
        "cost": {
            "seconds": round(time.perf_counter() - started_all, 3),
            "by_step": cost.seconds,
            "models_quantized": cost.models_quantized,
            "models_evaluated": cost.models_evaluated,
        },
        "key": key.to_dict(),
    }
    search["plan_cache"] = _store_plan(inputs.cache_dir, profile.name, key, inputs.scratch, search)
    log(f"build: precision plan {best.name}: {len(best.float_groups)} group(s) in float, "
        f"drop {best.drop:.4f}, {time.perf_counter() - started_all:.0f} s of search")  # fmt: skip
    return {**record, "search": search}


def _why(group: str, best: Candidate, candidates: Sequence[Candidate]) -> str:
    """Why ``group`` stayed in float: the candidate that quantized it too broke the budget (or none tried it)."""
    for cand in candidates:
        if set(cand.float_groups) == set(best.float_groups) - {group}:
            if cand.passed:  # within the budget, but not the fastest when all passing plans were timed together
                slower, fastest = cand.final_latency_ms or 0.0, best.final_latency_ms or 0.0
                return (f"quantizing it too ({cand.name}) passed (drop {cand.drop:.4f}) but timed slower in the "
                        f"interleaved re-timing ({slower:.2f} vs {fastest:.2f} ms)")  # fmt: skip
            return f"quantizing it too: {cand.name}, {cand.why}"
    return "kept from the plan it started from (quantizing it was not tried within max_candidates)"


def _cached_plan(cache_dir: Path | None, profile_name: str, key: PlanKey) -> dict[str, Any] | None:
    from builder.common.safe_io import read_json

    if cache_dir is None:
        return None
    plan, sidecar = plan_paths(cache_dir, profile_name, key)
    if check_cache(plan, sidecar, key) != "valid":
        return None
    stored = read_json(plan, what="precision plan")
    return {"path": str(plan), "plan": stored["plan"], "search": stored}


def _store_plan(cache_dir: Path | None, profile_name: str, key: PlanKey, scratch: Path,
                search: dict[str, Any]) -> str:  # fmt: skip
    from builder.record.manifest import write_json_atomic

    if cache_dir is None:
        return ""
    plan, sidecar = plan_paths(cache_dir, profile_name, key)
    fresh = scratch / "precision-plan.json"
    write_json_atomic(fresh, search)
    publish_cache(fresh, plan, sidecar, key)
    return str(plan)
