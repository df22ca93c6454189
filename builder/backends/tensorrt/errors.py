"""Turn TensorRT's silent failures (a ``False`` parse, a ``None`` plan) into one clear EngineBuildError.

TensorRT reports *why* only through its logger and the parser's error list; ``trt_calls`` copies both into
plain data (:class:`ParserIssue`, :class:`LogRecorder`) so the wording here is pure and tested.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

from builder.errors import EngineBuildError

SEVERITIES = ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE")  # TensorRT's order, most severe first
TAIL_LINES = 15


@dataclass(frozen=True)
class ParserIssue:
    """One ONNX parser error; ``node_name``/``operator`` exist on TensorRT 10+ only ("" on 8.6)."""

    code: str  # ErrorCode name, e.g. "UNSUPPORTED_NODE"
    desc: str
    node: int  # node index, -1 for a model-level error
    node_name: str = ""
    operator: str = ""

    def __str__(self) -> str:
        where = "model" if self.node < 0 else f"node {self.node}"
        if self.node_name:
            where += f" '{self.node_name}'"
        if self.operator:
            where += f" ({self.operator})"
        return f"{where}: [{self.code}] {self.desc}"


class LogRecorder:
    """Keeps the last ``keep`` TensorRT log records at or above ``min_severity``, and counts all of them."""

    def __init__(self, keep: int = 400, min_severity: str = "INFO") -> None:
        self.records: deque[tuple[str, str]] = deque(maxlen=keep)
        self.counts: Counter[str] = Counter()
        self._limit = SEVERITIES.index(min_severity)

    def add(self, severity: str, message: str) -> None:
        name = severity.rsplit(".", 1)[-1].upper()  # "Severity.ERROR" or "ERROR"
        self.counts[name] += 1
        if name not in SEVERITIES or SEVERITIES.index(name) <= self._limit:
            self.records.append((name, message.rstrip()))

    def tail(self, lines: int = TAIL_LINES, min_severity: str = "WARNING") -> list[str]:
        """The last ``lines`` records at or above ``min_severity``, as ``"[E] message"``."""
        limit = SEVERITIES.index(min_severity)
        picked = [(s, m) for s, m in self.records if s not in SEVERITIES or SEVERITIES.index(s) <= limit]
        return [f"[{s[0] if s != 'INTERNAL_ERROR' else 'F'}] {m}" for s, m in picked[-lines:]]


def _indent(lines: Sequence[str]) -> str:
    return "".join(f"\n    {line}" for line in lines)


def parser_error(onnx_path: str, issues: Sequence[ParserIssue], log: LogRecorder) -> EngineBuildError:
    """The error for ``parse_from_file`` returning False."""
    detail = _indent([str(i) for i in issues] or ["(the parser reported no error; see the TensorRT log)"])
    tail = log.tail()
    message = f"TensorRT's ONNX parser rejected {onnx_path}:{detail}"
    if tail:
        message += f"\n  TensorRT log (last {len(tail)} warnings/errors):{_indent(tail)}"
    codes = {i.code for i in issues}
    if "UNSUPPORTED_NODE" in codes or "UNSUPPORTED_NODE_ATTR" in codes or "UNSUPPORTED_NODE_INPUT" in codes:
        hint = (
            "this TensorRT cannot import an operator: export with `opset: 17` and `simplify: true`, "
            "or use a newer TensorRT image"
        )
    elif "INVALID_GRAPH" in codes or "MODEL_DESERIALIZE_FAILED" in codes or "INVALID_VALUE" in codes:
        hint = "the ONNX file is malformed or truncated: re-run the export (check `onnx.checker` output)"
    else:
        hint = f"inspect the graph with `polygraphy inspect model {onnx_path}`; use `opset: 17` for TensorRT 8.6"
    return EngineBuildError(message, hint=hint)


def build_error(log: LogRecorder, what: str = "build_serialized_network returned no plan") -> EngineBuildError:
    """The error for a failed engine build (``build_serialized_network`` returned None)."""
    tail = log.tail()
    message = f"TensorRT could not build the engine ({what})"
    message += f":{_indent(tail)}" if tail else " and logged no warning or error"
    text = " ".join(tail).lower()
    if "out of memory" in text or "insufficient memory" in text or "workspace" in text:
        hint = "raise `workspace` in the profile (or remove it to let TensorRT decide), or free GPU memory"
    elif "calibrat" in text:
        hint = "INT8 calibration failed: check the `int8.data` images, or delete the calibration cache and rebuild"
    elif "could not find any implementation" in text or "no implementation" in text:
        hint = "no kernel fits: raise `workspace`, lower the batch range, or try `precision: fp32`"
    else:
        hint = "read the TensorRT log above; a retry with `precision: fp32` and no `workspace` limit narrows it down"
    return EngineBuildError(message, hint=hint)
