"""Build profiles: YAML files parsed, validated and completed into :class:`Profile`."""

from builder.profile.complete import document_from_profile
from builder.profile.fields import DEFAULT_PROFILE
from builder.profile.listing import ProfileListing, list_profiles
from builder.profile.load import available_profiles, load_profile
from builder.profile.model import (
    AccuracySpec,
    Backend,
    BatchSpec,
    BenchmarkSpec,
    DetectionCheck,
    HardwareCompatibility,
    Int8Search,
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
    "DEFAULT_PROFILE",
    "Backend",
    "AccuracySpec",
    "BatchSpec",
    "BenchmarkSpec",
    "DetectionCheck",
    "HardwareCompatibility",
    "Int8Search",
    "Int8Spec",
    "ModelSpec",
    "OutputsSpec",
    "Precision",
    "Profile",
    "ProfileListing",
    "TargetSpec",
    "Tolerance",
    "VerifySpec",
    "available_profiles",
    "document_from_profile",
    "list_profiles",
    "load_profile",
]
