"""Rebuild a :class:`Profile` from its resolved form (``Profile.to_dict()``), as stored in manifests."""

from __future__ import annotations

from typing import Any, Mapping

from builder.errors import ArtifactError
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


def profile_from_resolved(data: Mapping[str, Any]) -> Profile:
    """Inverse of :meth:`Profile.to_dict`.

    Raises:
        ArtifactError: the data is not a resolved profile of this schema.
    """
    try:
        verify = data["verify"]
        return Profile(
            name=data["name"],
            description=data.get("description", ""),
            backend=Backend(data["backend"]),
            model=ModelSpec(**data["model"]),
            task=data["task"],
            imgsz=(int(data["imgsz"][0]), int(data["imgsz"][1])),
            batch=BatchSpec(**data["batch"]),
            precision=Precision(data["precision"]),
            int8=Int8Spec(**data["int8"]) if data.get("int8") else None,
            workspace=data.get("workspace"),
            timing_cache=data.get("timing_cache"),
            builder_optimization_level=data["builder_optimization_level"],
            hardware_compatibility=HardwareCompatibility(data["hardware_compatibility"]),
            version_compatible=data["version_compatible"],
            tf32=data["tf32"],
            opset=data["opset"],
            simplify=data["simplify"],
            target=TargetSpec(**data["target"]) if data.get("target") else None,
            verify=VerifySpec(
                seed=verify["seed"],
                random_inputs=verify["random_inputs"],
                images=tuple(verify["images"]),
                tolerances={k: Tolerance(**v) for k, v in verify["tolerances"].items()},
                detection=DetectionCheck(**verify["detection"]),
            ),
            benchmark=BenchmarkSpec(**data["benchmark"]),
            outputs=OutputsSpec(**data["outputs"]),
            source=data.get("source", ""),
            extends_chain=tuple(data.get("extends_chain", ())),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(
            f"the manifest's resolved profile cannot be read ({type(err).__name__}: {err})",
            hint="the manifest was written by another Engine Foundry version or edited by hand",
        ) from None
