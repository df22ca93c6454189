"""The ONNX Runtime backend's own cross-key rules of a profile (the catalogue's ``profile_check``).

Called by :func:`builder.profile.validate.validate_profile_data` for an ``onnxruntime`` profile; reports into the
:class:`Report` and never raises. Nothing heavy is imported.
"""

from __future__ import annotations

from typing import Any

from builder.profile.validate import MISSING, Report


def check(data: dict[str, Any], report: Report) -> None:
    """The rules of an ONNX Runtime profile that span several keys."""
    mode = report.get(data, ("outputs", "nms"))
    if mode not in (MISSING, "external") and report.get(data, ("precision",)) == "int8":
        report.add(
            ("outputs", "nms"),
            f"{mode!r} is not built at precision int8 on onnxruntime (the quantizer would reach into the "
            "selection); use external, or precision fp32",
        )
