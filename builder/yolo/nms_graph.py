"""Final detections inside the ONNX graph: embedded NMS appended as ONNX ``NonMaxSuppression``, and the raw head
of an end-to-end (NMS-free) export found again.

Why ONNX ``NonMaxSuppression`` and not ultralytics' ``nms=True`` export: that export traces
``torchvision.ops.nms``, and the torchvision wheel installable beside the CPU torch here does not import
(``operator torchvision::nms does not exist``; requirements/cpu.in). ``torchvision.ops.nms`` exports to this very
ONNX operator anyway, so the graph is the one ultralytics' ``nms=True`` would give, built without torchvision.
Both runtimes accept it: ONNX Runtime implements it on CPU, and TensorRT imports it as its NMS layer
(onnx-tensorrt docs/operators.md, ``NonMaxSuppression | Y | FP32, FP16`` at release/8.6-GA and release/10.1-GA;
so are ``TopK`` (K < 3840), ``ScatterND``, ``GatherND``, ``GatherElements``, ``ArgMax``, ``Equal``, ``Where``,
``ConstantOfShape`` used below).

The appended graph, on the raw head ``(batch, 4 + nc, anchors)`` (xywh + class scores), computes exactly what
:func:`builder.yolo.detections.decode_detections` computes with ``top_k = max_det``: per anchor its best class
(the other classes masked to -1, below the score threshold 0, so each anchor is a candidate of one class only),
class-aware NMS at IoU :data:`NMS_IOU`, then the ``max_det`` highest scores over all classes. The output is
ultralytics' end-to-end format, ``output0`` ``(batch, max_det, 6)``: ``x1, y1, x2, y2, score, class`` in input
pixels, highest score first, rows past the last detection all zero. No confidence threshold is applied (the
predictor applies its ``conf``, the validator its 0.001).
"""

from __future__ import annotations

from typing import Any

from builder.yolo.detections import NMS_IOU

MAX_DET = 300  # ultralytics' max_det default (and its end-to-end head's)
HEAD_OUTPUT = "raw_head"  # the raw head's tensor name inside an embedded-NMS graph
OUTPUT = "output0"
_P = "efnms/"  # prefix of every node and tensor added here


def embed_nms(model: Any, anchors: int | None = None, max_det: int = MAX_DET, iou: float = NMS_IOU) -> Any:
    """``model`` (a raw detect export, one output ``(B, 4 + nc, A)``) with NMS appended; a new ModelProto.

    The raw tensor is renamed :data:`HEAD_OUTPUT`; the output keeps the name ``output0``. Ultralytics'
    metadata gets ``args.nms = True`` (what ``AutoBackend`` reads to treat the output as final detections).
    ``anchors``: the head's anchor count at the profile's image size, for a graph whose output leaves it dynamic.

    Raises:
        ValueError: the model's output is not a static-anchor ``(B, 4 + nc, A)`` detect head.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    if len(graph.output) != 1:
        raise ValueError(f"expected one detect output, found {len(graph.output)}")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in graph.output[0].type.tensor_type.shape.dim]
    if len(dims) == 3 and anchors is not None:
        dims[2] = anchors
    if len(dims) != 3 or dims[1] < 5 or dims[2] <= 0:
        raise ValueError(f"expected a detect output (batch, 4 + classes, anchors), got {dims}")
    old = graph.output[0].name
    nc, anchors = dims[1] - 4, dims[2]
    k = min(max_det, anchors)
    for existing in graph.node:
        existing.output[:] = [HEAD_OUTPUT if name == old else name for name in existing.output]
        existing.input[:] = [HEAD_OUTPUT if name == old else name for name in existing.input]
    del graph.output[:]

    made: set[str] = set()

    def const(name: str, array: Any) -> str:
        if name not in made:
            made.add(name)
            graph.initializer.append(numpy_helper.from_array(np.asarray(array), _P + name))
        return _P + name

    nodes = []
    opset = _opset(out)

    def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> list[str]:
        names = [_P + o for o in outputs]
        nodes.append(helper.make_node(op, inputs, names, name=_P + outputs[0], **attrs))
        return names

    def unsqueeze(tensor: str, axis: int, name: str) -> str:
        if opset >= 13:  # axes became an input in opset 13
            return node("Unsqueeze", [tensor, const(f"axis{axis}", i64(axis))], [name])[0]
        return node("Unsqueeze", [tensor], [name], axes=[axis])[0]

    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    f32 = lambda v: np.array([v], dtype=np.float32)  # noqa: E731
    start, four, axis1 = const("start", i64(0)), const("four", i64(4)), const("axis1", i64(1))
    (xywh,) = node("Slice", [HEAD_OUTPUT, start, four, axis1], ["xywh"])  # (B, 4, A)
    (scores,) = node("Slice", [HEAD_OUTPUT, four, const("end", i64(4 + nc)), axis1], ["scores"])  # (B, nc, A)
    (boxes_t,) = node("Transpose", [xywh], ["boxes_xywh"], perm=[0, 2, 1])  # (B, A, 4)
    two, axis2 = const("two", i64(2)), const("axis2", i64(2))  # Slice's axes: an initializer for TensorRT
    (xy,) = node("Slice", [boxes_t, start, two, axis2], ["xy"])
    (wh,) = node("Slice", [boxes_t, two, four, axis2], ["wh"])
    (half,) = node("Div", [wh, const("two_f", np.float32(2.0))], ["half"])
    (top_left,) = node("Sub", [xy, half], ["top_left"])
    (bottom_right,) = node("Add", [xy, half], ["bottom_right"])
    (boxes,) = node("Concat", [top_left, bottom_right], ["boxes"], axis=2)  # (B, A, 4) xyxy, as xywh_to_xyxy
    (best,) = node("ArgMax", [scores], ["best"], axis=1, keepdims=1)  # (B, 1, A), the first best as numpy's
    classes = const("classes", np.arange(nc, dtype=np.int64).reshape(1, nc, 1))
    (is_best,) = node("Equal", [classes, best], ["is_best"])
    (masked,) = node("Where", [is_best, scores, const("minus1", np.float32(-1.0))], ["masked"])  # (B, nc, A)
    limits = [const("max_out", i64(k)), const("iou", f32(iou)), const("threshold", f32(0.0))]
    (selected,) = node("NonMaxSuppression", [boxes, masked, *limits], ["selected"], center_point_box=0)  # (N, 3)
    (sel_scores,) = node("GatherND", [masked, selected], ["sel_scores"])  # (N,): batch, class, anchor -> score
    (batch_anchor,) = node("Gather", [selected, const("cols", i64(0, 2))], ["batch_anchor"], axis=1)  # (N, 2)
    (plane,) = node("Gather", [masked, const("first", np.int64(0))], ["plane"], axis=1)  # (B, A), for its shape
    (shape,) = node("Shape", [plane], ["shape"])
    fill = helper.make_tensor("fill", TensorProto.FLOAT, [1], [-1.0])
    (empty,) = node("ConstantOfShape", [shape], ["empty"], value=fill)
    (kept,) = node("ScatterND", [empty, batch_anchor, sel_scores], ["kept"])  # (B, A): score if kept, else -1
    top_score, top_index = node("TopK", [kept, const("k", i64(k))], ["top_score", "top_index"], axis=1, sorted=1)
    index4 = node("Expand", [unsqueeze(top_index, 2, "index3"), const("by4", i64(1, 1, 4))], ["index4"])[0]
    (top_boxes,) = node("GatherElements", [boxes, index4], ["top_boxes"], axis=1)  # (B, K, 4)
    (best_f,) = node("Cast", [best], ["best_f"], to=TensorProto.FLOAT)  # (B, 1, A)
    (top_class,) = node("GatherElements", [best_f, unsqueeze(top_index, 1, "index_c")], ["top_class"], axis=2)
    (top_class_t,) = node("Transpose", [top_class], ["top_class_t"], perm=[0, 2, 1])  # (B, K, 1)
    top_score3 = unsqueeze(top_score, 2, "top_score3")
    (rows,) = node("Concat", [top_boxes, top_score3, top_class_t], ["rows"], axis=2)  # (B, K, 6)
    (valid,) = node("Greater", [top_score3, const("below", np.float32(-0.5))], ["valid"])
    nodes.append(helper.make_node("Where", [valid, rows, const("zero", np.float32(0.0))], [OUTPUT], name=_P + OUTPUT))
    graph.node.extend(nodes)
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    batch: int | str = batch_dim.dim_value if batch_dim.HasField("dim_value") else (batch_dim.dim_param or "batch")
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [batch, k, 6]))
    _mark_nms_metadata(out, iou, max_det)
    onnx.checker.check_model(out, full_check=True)
    return out


def _opset(model: Any) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _mark_nms_metadata(model: Any, iou: float, max_det: int) -> None:
    """Ultralytics' metadata as its own ``nms=True`` export writes it (``args``: nms, iou, max_det)."""
    import ast

    props = {p.key: p for p in model.metadata_props}
    if "args" in props:
        args = ast.literal_eval(props["args"].value)
        args.update(nms=True, iou=iou, max_det=max_det, conf=None)
        props["args"].value = repr(args)
    else:
        entry = model.metadata_props.add()
        entry.key, entry.value = "args", repr({"nms": True, "iou": iou, "max_det": max_det, "conf": None})


def end2end_head(model: Any) -> str:
    """The name of the raw one-to-one head ``(B, 4 + nc, A)`` (xyxy + scores) inside an end-to-end export.

    Ultralytics' end-to-end head (``Detect.forward`` with ``end2end``) decodes the one-to-one branch to
    ``(B, 4 + nc, A)``, permutes it, and picks the top ``max_det`` (``Detect.postprocess``): the tensor sought is
    the one ``Transpose(perm=[0, 2, 1])`` that leads to the output.

    Raises:
        ValueError: no such tensor (not an end-to-end detect export).
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    ancestors: set[str] = set()
    stack = [o.name for o in graph.output]
    while stack:
        name = stack.pop()
        if name in ancestors:
            continue
        ancestors.add(name)
        producer = producers.get(name)
        if producer is not None:
            stack.extend(producer.input)
    transposes = [
        n
        for n in graph.node
        if n.op_type == "Transpose"
        and n.output[0] in ancestors
        and [a.ints for a in n.attribute if a.name == "perm"] == [[0, 2, 1]]
    ]
    if len(transposes) != 1:
        raise ValueError(f"no single Transpose(0, 2, 1) before the end-to-end top-k ({len(transposes)} found)")
    return str(transposes[0].input[0])


def exposing(model: Any, names: list[str]) -> Any:
    """A copy of ``model`` whose outputs are ``names`` (float tensors of the graph), for a reference run."""
    import onnx
    from onnx import TensorProto, helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    known = {o.name for o in out.graph.output}
    for name in names:
        if name not in known:
            out.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return out
