"""The complete step: defaults filled in (some by precision), valid data turned into a :class:`Profile`.

Runs only on data that passed validation; a value the user wrote always wins.
"""

from __future__ import annotations

import copy
from typing import Any

from builder.profile.fields import PRECISION_DEFAULTS, PROFILE, timing_cache_name
from builder.profile.kinds import NO_DEFAULT, Kind
from builder.profile.sections import Either, MapOf, Section
from builder.profile.model import (
    Backend,
    BatchSpec,
    BenchmarkSpec,
    DetectionCheck,
    HardwareCompatibility,
    Int8Spec,
    ModelSpec,
    OutputsSpec,
    Precision,
    Profile,
    TargetSpec,
    Tolerance,
    VerifySpec,
)
from builder.profile.units import parse_size


def complete_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every default filled in (a new dict; ``data`` is not changed)."""
    filled = _fill(PROFILE, data)
    by_precision = PRECISION_DEFAULTS[filled["precision"]]
    verify = filled["verify"]
    default_tolerance = {**by_precision["tolerance"], **verify["tolerances"].get("default", {})}
    verify["tolerances"] = {
        "default": default_tolerance,
        **{name: {**default_tolerance, **tol} for name, tol in verify["tolerances"].items() if name != "default"},
    }
    verify["detection"] = {**by_precision["detection"], **verify["detection"]}
    return filled


def profile_from_data(data: dict[str, Any], *, source: str = "", extends_chain: tuple[str, ...] = ()) -> Profile:
    """Build a :class:`Profile` from validated, merged profile data."""
    d = complete_data(data)
    verify = d["verify"]
    return Profile(
        name=d["name"],
        description=d["description"],
        backend=Backend(d["backend"]),
        model=ModelSpec(
            checkpoint=d["model"].get("checkpoint"),
            sha256=d["model"].get("sha256"),
            yaml=d["model"].get("yaml"),
            seed=d["model"]["seed"],
        ),
        task=d["task"],
        imgsz=(d["imgsz"], d["imgsz"]) if isinstance(d["imgsz"], int) else (d["imgsz"][0], d["imgsz"][1]),
        batch=BatchSpec(d["batch"], d["batch"], d["batch"]) if isinstance(d["batch"], int) else BatchSpec(**d["batch"]),
        precision=Precision(d["precision"]),
        int8=None if d["int8"] is None else Int8Spec(
            data=d["int8"]["data"],
            samples=d["int8"]["samples"],
            cache="off" if d["int8"]["cache"] is False else d["int8"]["cache"],
        ),
        workspace=parse_size(d["workspace"]) if isinstance(d["workspace"], str) else d["workspace"],
        timing_cache=timing_cache_name(d["timing_cache"]),
        builder_optimization_level=d["builder_optimization_level"],
        hardware_compatibility=HardwareCompatibility(d["hardware_compatibility"]),
        version_compatible=d["version_compatible"],
        tf32=d["tf32"],
        opset=d["opset"],
        simplify=d["simplify"],
        target=None if d["target"] is None else TargetSpec(**d["target"]),
        verify=VerifySpec(
            seed=verify["seed"],
            random_inputs=verify["random_inputs"],
            images=tuple(verify["images"]),
            tolerances={name: Tolerance(float(t["atol"]), float(t["rtol"])) for name, t in verify["tolerances"].items()},
            detection=DetectionCheck(
                top_k=verify["detection"]["top_k"],
                iou=float(verify["detection"]["iou"]),
                score_atol=float(verify["detection"]["score_atol"]),
                min_agreement=float(verify["detection"]["min_agreement"]),
            ),
        ),
        benchmark=BenchmarkSpec(**d["benchmark"]),
        outputs=OutputsSpec(**d["outputs"]),
        source=source,
        extends_chain=extends_chain,
    )


def document_from_profile(profile: Profile) -> dict[str, Any]:
    """A self-contained profile document (no ``extends``) that loads back to an equal profile."""
    doc = profile.to_dict()
    doc.pop("source")
    doc.pop("extends_chain")
    doc["model"] = {key: value for key, value in doc["model"].items() if value is not None}
    if "checkpoint" in doc["model"]:
        doc["model"].pop("seed")
    doc["imgsz"] = list(profile.imgsz)
    doc["timing_cache"] = profile.timing_cache or "off"
    return doc


def _fill(section: Section, value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    for spec in section.fields:
        if spec.name not in out or (out[spec.name] is None and spec.default is None):
            if spec.default is NO_DEFAULT:
                continue
            out[spec.name] = copy.deepcopy(spec.default)
        out[spec.name] = _fill_kind(spec.kind, out[spec.name])
    return out


def _fill_kind(kind: Kind, value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(kind, Section):
            return _fill(kind, value)
        if isinstance(kind, MapOf):
            return {key: _fill_kind(kind.value, item) for key, item in value.items()}
        if isinstance(kind, Either):
            section = next((option for option in kind.options if isinstance(option, Section)), None)
            return _fill(section, value) if section is not None else value
    return value
