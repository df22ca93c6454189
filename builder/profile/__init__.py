"""Build profiles: YAML files parsed, validated and completed into :class:`Profile`."""

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

__all__ = [
    "Backend",
    "BatchSpec",
    "BenchmarkSpec",
    "DetectionCheck",
    "HardwareCompatibility",
    "Int8Spec",
    "ModelSpec",
    "OutputsSpec",
    "Precision",
    "Profile",
    "TargetSpec",
    "Tolerance",
    "VerifySpec",
]
