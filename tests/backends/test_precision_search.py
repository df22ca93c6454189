"""The precision search's pure parts (builder/backends/precision_search.py): node groups, scores, the greedy step.

The search on real quantization (budget refusals, the cached plan) is in tests/accuracy/test_precision_search.py.
"""

from __future__ import annotations

from builder.backends.precision_search import PlanKey, greedy_next, group_scores, node_groups

# names and ops as ultralytics 8.4.190 exports YOLO11n (opset 17, onnxslim): backbone, a head branch, the decode
NODES = [
    ("/model.0/conv/Conv", "Conv"),
    ("/model.0/act/Sigmoid", "Sigmoid"),
    ("/model.0/act/Mul", "Mul"),
    ("/model.9/m/MaxPool", "MaxPool"),
    ("/model.23/cv2.0/cv2.0.0/conv/Conv", "Conv"),
    ("/model.23/one2one_cv3.1/x/Conv", "Conv"),
    ("/model.23/dfl/Softmax", "Softmax"),
    ("/model.23/dfl/conv/Conv", "Conv"),
    ("/model.23/Sigmoid", "Sigmoid"),
    ("/model.23/Concat_3", "Concat"),
    ("/model.23/Shape", "Shape"),
    ("Constant_7", "Constant"),
]
QUANTIZED = {"Conv", "Sigmoid", "Mul", "MaxPool", "Softmax", "Concat"}


def test_groups_are_modules_head_branches_and_the_decode_by_op() -> None:
    groups = node_groups(NODES, QUANTIZED)
    assert groups == {
        "/model.0/": ["/model.0/conv/Conv", "/model.0/act/Sigmoid", "/model.0/act/Mul"],
        "/model.9/": ["/model.9/m/MaxPool"],
        "/model.23/cv2.0": ["/model.23/cv2.0/cv2.0.0/conv/Conv"],
        "/model.23/one2one_cv3.1": ["/model.23/one2one_cv3.1/x/Conv"],
        "/model.23/dfl/Softmax": ["/model.23/dfl/Softmax"],
        "/model.23/dfl/Conv": ["/model.23/dfl/conv/Conv"],
        "/model.23/Sigmoid": ["/model.23/Sigmoid"],
        "/model.23/Concat": ["/model.23/Concat_3"],
    }  # Shape and Constant are never quantized: keeping them in float would change nothing


def test_a_group_scores_its_worst_input_tensor() -> None:
    errors = {"a": {"qdq_err": 30.0, "xmodel_err": 20.0}, "b": {"qdq_err": 12.5}, "c": {"xmodel_err": 3.0}}
    consumers = {"a": ["n1", "n2"], "b": ["n2"], "c": ["n1"]}
    assert group_scores(errors, consumers, {"n1": "g1", "n2": "g2"}) == {"g1": 30.0, "g2": 12.5}


def test_greedy_adds_the_most_sensitive_group_while_failing_and_drops_the_least_once_passing() -> None:
    order = ["decode", "dfl", "backbone"]  # most sensitive first
    assert greedy_next((), False, order, {()}) == ("decode",)
    assert greedy_next(("decode",), False, order, {(), ("decode",)}) == ("decode", "dfl")
    assert greedy_next(("decode", "dfl"), True, order, set()) == ("decode",)  # quantize the least sensitive: dfl
    assert greedy_next(("decode", "dfl"), True, order, {("decode",)}) == ("dfl",)  # that failed: try the next
    assert greedy_next(("decode",), True, order, {()}) is None  # nothing left to try


def test_once_passing_the_greedy_quantizes_chunks_of_the_least_sensitive_groups_then_smaller_ones() -> None:
    order = ["g1", "g2", "g3", "g4"]  # most sensitive first
    plan = ("g1", "g2", "g3", "g4")
    assert greedy_next(plan, True, order, set(), 2) == ("g1", "g2")  # g4 and g3 quantized together
    tried = {("g1", "g2"), ("g3", "g4")}  # both halves tried: single groups next, least sensitive first
    assert greedy_next(plan, True, order, tried, 2) == ("g1", "g2", "g3")


def test_the_plan_key_changes_with_every_input() -> None:
    base = dict(search_version=1, onnxruntime="1.32.0", onnx_sha256="a" * 64, calibration={"data_sha256": "c"},
                accuracy_data="d.yaml", accuracy_split="val", accuracy_samples=None, accuracy_sha256="e",
                max_map_drop=0.01, max_candidates=8, head_rule="decode", imgsz=(256, 256), batch=1,
                target="onnxruntime")  # fmt: skip
    key = PlanKey(**base)  # type: ignore[arg-type]
    assert key.to_dict()["imgsz"] == [256, 256] and len(key.digest()) == 16
    for name, value in (("max_map_drop", 0.02), ("accuracy_sha256", "f"), ("calibration", {"data_sha256": "x"})):
        assert PlanKey(**{**base, name: value}).digest() != key.digest()  # type: ignore[arg-type]


def test_tensorrt_plans_are_picked_by_quantization_not_by_cpu_latency() -> None:
    """Issue 19: CPU latency ranks CPU plans only; a TensorRT plan (not timed) is the most quantized passing one."""
    from builder.backends.precision_search import Candidate, pick

    fast_on_cpu = Candidate("greedy-1", ("a", "b"), latency_ms=5.0, passed=True, nodes_in_float=40)
    most_quantized = Candidate("greedy-2", ("a",), latency_ms=9.0, passed=True, nodes_in_float=12)
    tie = Candidate("greedy-3", ("c",), latency_ms=1.0, passed=True, nodes_in_float=12)
    assert pick([fast_on_cpu, most_quantized, tie], timed=False) is most_quantized  # the first found on a tie
    fast_on_cpu.final_latency_ms, most_quantized.final_latency_ms, tie.final_latency_ms = 5.0, 9.0, 7.0
    assert pick([fast_on_cpu, most_quantized, tie], timed=True) is fast_on_cpu  # re-timed interleaved on this CPU
