"""Validation of a merged profile: the field table first, then the rules that span several keys.

Nothing here changes the data; every problem is collected, none stops the others. :func:`validate` is the
only maker of :class:`ValidProfileData`, the only input the complete step accepts (raw -> valid -> complete).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from builder.backends.catalog import backends, find_backend, owners_of_field, resolve
from builder.errors import FieldError
from builder.machine.gpu import parse_compute_capability
from builder.profile.fields import PROFILE, VERIFY, iter_fields
from builder.profile.sections import Section
from builder.profile.source import KeyPath, format_key_path

Locate = Callable[[KeyPath], "tuple[str, int | None]"]
MISSING: Any = object()


class Report:
    """Collects :class:`FieldError` s; ``locate`` maps a key path to its file and line."""

    def __init__(self, locate: Locate, *, complete: bool) -> None:
        self.locate = locate
        self.complete = complete
        self.errors: list[FieldError] = []
        self.bad: set[KeyPath] = set()

    def add(self, path: KeyPath, message: str) -> None:
        file, line = self.locate(path)
        self.errors.append(FieldError(file, format_key_path(path), message, line))
        self.bad.add(path)

    def get(self, data: dict[str, Any], path: KeyPath) -> Any:
        """The value at ``path``, or ``MISSING`` if absent, null, or reported bad (itself or a parent)."""
        value: Any = data
        for depth, key in enumerate(path, start=1):
            if path[:depth] in self.bad or not isinstance(value, dict) or value.get(key) is None:
                return MISSING
            value = value[key]
        return value


@dataclass(frozen=True)
class ValidProfileData:
    """Merged profile data in which ``table`` found no problem, as a whole profile (made only by :func:`validate`)."""

    data: Mapping[str, Any]
    table: Section


def validate(data: dict[str, Any], report: Report, table: Section = PROFILE) -> ValidProfileData | None:
    """Check ``data`` into ``report``; the valid data when nothing was found and ``report`` checks a whole profile."""
    validate_profile_data(data, report, table)
    return ValidProfileData(data, table) if report.complete and not report.errors else None


def validate_profile_data(data: dict[str, Any], report: Report, table: Section = PROFILE) -> None:
    """Check merged profile ``data`` against the field table (``table``) and the cross-key rules."""
    table.check(data, (), report)
    _check_model(data, report)
    _check_batch(data, report)
    _check_int8(data, report)
    _check_hardware_compatibility(data, report)
    _check_backend(data, report, table)
    _check_verify(data, report)
    _check_nms(data, report)


def _check_model(data: dict[str, Any], report: Report) -> None:
    model = data.get("model")
    if not isinstance(model, dict) or ("model",) in report.bad:
        return
    given = {key for key in ("yaml", "checkpoint", "seed", "sha256") if model.get(key) is not None}
    if {"yaml", "checkpoint"} <= given:
        report.add(("model",), "give exactly one of model.yaml or model.checkpoint, not both")
    elif not given & {"yaml", "checkpoint"} and report.complete:
        report.add(("model",), "give model.yaml (a model YAML ultralytics ships) or model.checkpoint (a .pt file)")
    elif "checkpoint" in given and "seed" in given:
        report.add(("model", "seed"), "seed applies only to model.yaml; a checkpoint has trained weights")
    elif "yaml" in given and "sha256" in given:
        report.add(("model", "sha256"), "sha256 applies only to model.checkpoint")


def _check_batch(data: dict[str, Any], report: Report) -> None:
    sizes = [report.get(data, ("batch", key)) for key in ("min", "opt", "max")]
    if MISSING in sizes or not isinstance(data.get("batch"), dict):
        return
    low, opt, high = sizes
    if not low <= opt <= high:
        report.add(("batch",), f"needs min <= opt <= max, got min {low}, opt {opt}, max {high}")


def _check_int8(data: dict[str, Any], report: Report) -> None:
    precision = report.get(data, ("precision",))
    has_block = isinstance(data.get("int8"), dict)
    if precision == "int8" and data.get("int8") is None and report.complete:
        report.add(("int8",), "required when precision is int8: give int8.data, a folder of calibration images")
    elif has_block and precision not in (MISSING, "int8"):
        report.add(
            ("int8",),
            f"int8 block given but precision is {precision}; remove it "
            "(or set `int8: null` in a profile that extends an int8 one)",
        )
    search = report.get(data, ("int8", "search"))
    if isinstance(search, dict) and report.complete and data.get("accuracy") is None:
        report.add(
            ("int8", "search"),
            "the precision search scores its candidates on the `accuracy` split: add an `accuracy` block "
            "(data: a data.yaml under the models folder; docs/accuracy.md)",
        )


def _check_hardware_compatibility(data: dict[str, Any], report: Report) -> None:
    level = report.get(data, ("hardware_compatibility",))
    capability = report.get(data, ("target", "compute_capability"))
    if level != "ampere_plus" or capability is MISSING:
        return
    parsed = parse_compute_capability(capability)
    if parsed is not None and parsed < (8, 0):
        report.add(
            ("hardware_compatibility",),
            f"ampere_plus needs compute capability 8.0 or newer, but target.compute_capability is {capability}",
        )


def _check_backend(data: dict[str, Any], report: Report, table: Section) -> None:
    """The backend catalogue's rules: the backend's own cross-key rules (``profile_check``), the precisions it
    builds, the keys only other backends use."""
    entry = find_backend(report.get(data, ("backend",)))
    if entry is None:
        return
    if entry.profile_check:
        resolve(entry.profile_check)(data, report)
    precision = report.get(data, ("precision",))
    if precision is not MISSING and precision not in entry.precisions:
        others = [other.name for other in backends() if precision in other.precisions]
        use = f"; use backend: {' or '.join(others)} for {precision}" if others else ""
        report.add(
            ("precision",), f"backend {entry.name} supports only {', '.join(entry.precisions)}, got {precision}{use}"
        )
    for path, spec in iter_fields(table):
        owners = owners_of_field(format_key_path(path))
        value = report.get(data, path)
        if not owners or entry.name in owners or value is MISSING:
            continue
        if spec.canonical(value) != spec.canonical(spec.default):
            report.add(
                path,
                f"only applies to backend {' or '.join(owners)} (this profile's backend is {entry.name}); remove it",
            )


def _check_verify(data: dict[str, Any], report: Report) -> None:
    verify = data.get("verify")
    if not isinstance(verify, dict) or any(path[:1] == ("verify",) for path in report.bad):
        return
    random_inputs = verify.get("random_inputs", VERIFY.field("random_inputs").default)
    images = verify.get("images", VERIFY.field("images").default)
    if random_inputs == 0 and images == []:
        report.add(("verify",), "compares nothing: set verify.random_inputs to 1 or more, or list verify.images")


#: ultralytics' model YAMLs whose detect head has the NMS-free one-to-one branch (``end2end: True`` in the YAML;
#: ultralytics 8.4.190 cfg/models/26/yolo26*.yaml, cfg/models/v10/yolov10*.yaml); a checkpoint is checked at export
END2END_YAML = r"^(yolo26|yolov10|yoloe-26)"


def _check_nms(data: dict[str, Any], report: Report) -> None:
    mode = report.get(data, ("outputs", "nms"))
    if mode is MISSING or mode == "external":
        return
    task = report.get(data, ("task",))
    if task is not MISSING and task != "detect":
        report.add(
            ("outputs", "nms"), f"{mode!r} is for task detect only (this profile's task is {task}); use external"
        )
    yaml = report.get(data, ("model", "yaml"))
    if mode == "end2end" and isinstance(yaml, str) and not re.match(END2END_YAML, yaml):
        report.add(
            ("outputs", "nms"),
            f"'end2end' needs a model with an NMS-free (one-to-one) head, and {yaml} has none "
            "(YOLO26 and YOLOv10 have one, e.g. yolo26n.yaml); use embedded for NMS inside the graph",
        )
