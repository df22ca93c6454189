"""TensorRT version gates: which API each supported version has, decided from the version string alone.

Supported: 8.6.x, 10.x and 11.x. TensorRT 11 removed the FP16/INT8 builder flags and ``IInt8Calibrator`` (networks
are always strongly typed): FP16 and INT8 build there from an ONNX that carries the precision (the FP16 ONNX and the
Q/DQ model made by ``explicit``), and a profile that needs the calibrator (``int8.quantization: calibrator``) is
refused with an explanation instead of failing deep inside the build. Enum members are always named, never
numbered: 11.0 renumbered ``NetworkDefinitionCreationFlag``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from builder.errors import HostEnvironmentError
from builder.profile import Precision, Profile

TRT_IMAGE = "nvcr.io/nvidia/tensorrt:23.08-py3"
TRT_IMAGE_HINT = f"build inside the TensorRT image: `make image FLAVOUR=trt` (base {TRT_IMAGE}, TensorRT 8.6)"
TRT10_IMAGE = "nvcr.io/nvidia/tensorrt:25.01-py3"
#: the image flavour each value of the profile's ``tensorrt`` key builds in, and the TensorRT family it holds
PROFILE_FAMILIES = {"8.6": ("trt", "8.6"), "10": ("trt10", "10")}


def trt_image_hint(profile: Profile) -> str:
    """The TIP for a host without TensorRT: the image of the profile's ``tensorrt`` family (trt10 for "10")."""
    flavour, family = PROFILE_FAMILIES.get(getattr(profile, "tensorrt", None) or "8.6", PROFILE_FAMILIES["8.6"])
    base = TRT10_IMAGE if flavour == "trt10" else TRT_IMAGE
    return f"build inside the TensorRT image: `make image FLAVOUR={flavour}` (base {base}, TensorRT {family})"


# the oldest TensorRT each family value of the profile accepts; a newer one builds too (the field picks the image,
# and an image of an older TensorRT than the profile asks for is refused: Blackwell needs 10.8, the trt10 image's)
_FAMILY_MINIMUM = {"8.6": (8, 6), "10": (10, 8)}

# (major, minor) from which the ONNX parser supports opsets up to the value (onnx-tensorrt docs/operators.md:
# 8.4-8.6 -> 17, 9.x -> 19, 10.0 -> 20, 10.15 -> 24, 11.2 -> 24; TensorRT 11.5 release notes: opset 25).
# Versions between two documented points get the lower, documented value.
_MAX_OPSET = (((8, 4), 17), ((9, 0), 19), ((10, 0), 20), ((10, 15), 24), ((11, 0), 24), ((11, 5), 25))


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A parsed ``tensorrt.__version__`` ("8.6.1", "10.0.1.6", "11.0.0.114")."""

    major: int
    minor: int
    patch: int = 0
    build: int = 0
    raw: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.raw or f"{self.major}.{self.minor}.{self.patch}.{self.build}"

    @property
    def short(self) -> str:
        """``major.minor.patch``, used in cache file names."""
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class TrtFeatures:
    """What one TensorRT version offers this builder; every name is an enum member name."""

    family: str  # "8.6" | "10" | "11"
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag members to set
    precision_flags: bool  # BuilderFlag.FP16 / INT8 and IInt8Calibrator exist (weak typing)
    calibration_profile: bool  # use IBuilderConfig.set_calibration_profile (8.6; deprecated and unsafe on 10)
    max_onnx_opset: int

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def parse_trt_version(text: str) -> TrtVersion:
    """Parse a TensorRT version string.

    Raises:
        ValueError: not a ``major.minor[.patch[.build]]`` string.
    """
    match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not match:
        raise ValueError(f"not a TensorRT version: {text!r}")
    major, minor, patch, build = (int(p) if p is not None else 0 for p in match.groups())
    return TrtVersion(major, minor, patch, build, raw=text.strip())


def max_onnx_opset(version: TrtVersion) -> int:
    """The highest ONNX opset this version's parser is documented to support."""
    best = 0
    for since, opset in _MAX_OPSET:
        if (version.major, version.minor) >= since:
            best = opset
    return best


def features_for(version: TrtVersion) -> TrtFeatures:
    """The API gates of ``version``.

    Raises:
        HostEnvironmentError: a TensorRT this builder does not support (before 8.6, 9.x, after 11.x).
    """
    opset = max_onnx_opset(version)
    if version.major == 8 and version.minor >= 6:
        return TrtFeatures(
            "8.6", ("EXPLICIT_BATCH",), precision_flags=True, calibration_profile=True, max_onnx_opset=opset
        )
    if version.major == 10:
        return TrtFeatures("10", (), precision_flags=True, calibration_profile=False, max_onnx_opset=opset)
    if version.major == 11:
        return TrtFeatures("11", (), precision_flags=False, calibration_profile=False, max_onnx_opset=opset)
    raise HostEnvironmentError(
        f"TensorRT {version} is not supported: this builder knows TensorRT 8.6, 10.x and 11.x",
        hint=TRT_IMAGE_HINT,
    )


def check_profile_supported(profile: Profile, version: TrtVersion) -> TrtFeatures:
    """Refuse a profile that needs something ``version`` does not have; return the version's features.

    Raises:
        HostEnvironmentError: unsupported version, FP16/INT8 on TensorRT 11, or an opset above the parser's.
    """
    feats = features_for(version)
    wanted = getattr(profile, "tensorrt", None)
    if wanted in PROFILE_FAMILIES and (version.major, version.minor) < _FAMILY_MINIMUM[PROFILE_FAMILIES[wanted][1]]:
        flavour = PROFILE_FAMILIES[wanted][0]
        raise HostEnvironmentError(
            f"profile '{profile.name}' asks for TensorRT {wanted} (`tensorrt: \"{wanted}\"`), but this image has "
            f"the older TensorRT {version}",
            hint=f"build in the {flavour} image (`make image FLAVOUR={flavour}`; `make engine` picks it from the "
            f"profile unless --image overrides it), or change `tensorrt:` in the profile",
        )
    implicit_int8 = (
        profile.precision is Precision.INT8 and profile.int8 is not None and profile.int8.quantization != "qdq"
    )
    if implicit_int8 and not feats.precision_flags:  # FP16 and Q/DQ INT8 build on 11 from the ONNX (explicit.py)
        raise HostEnvironmentError(
            f"profile '{profile.name}' asks for TensorRT's INT8 calibrator (`int8.quantization: calibrator`), "
            f"but TensorRT {version} removed it: networks are always strongly typed, so INT8 must be explicit "
            "Q/DQ in the ONNX",
            hint="set `int8.quantization: qdq` (the default): the build makes that Q/DQ model from the same "
            f"calibration images; or {TRT_IMAGE_HINT}",
        )
    if profile.opset > feats.max_onnx_opset:
        raise HostEnvironmentError(
            f"profile '{profile.name}' exports ONNX opset {profile.opset}, but the ONNX parser of TensorRT {version} "
            f"supports opsets up to {feats.max_onnx_opset}",
            hint=f"set `opset: {min(feats.max_onnx_opset, 17)}` in the profile (17 works with TensorRT 8.6 and later)",
        )
    return feats
