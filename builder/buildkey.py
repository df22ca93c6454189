"""The build key: a hash of everything that determines a build's output, and nothing else.

Inputs: the builder's version and own source, the resolved profile (this profile only), the weights, the
environment identity (an image's locked dependency set and base; never its image ID: see
:func:`builder.environment.environment_identity`) and, for TensorRT, the GPU model. Host and container
compute it with the same function, so the host can tell that a build is up to date without starting a container.
"""

from __future__ import annotations

import hashlib
import json

from builder import __version__
from builder.profile import Backend, Profile
from builder.weights import WeightsFingerprint


def build_key_inputs(
    profile: Profile, weights: WeightsFingerprint, environment_id: str, gpu_identity: str = ""
) -> dict[str, object]:
    """The parts of the key, recorded in the manifest so a changed key can be explained."""
    from builder.environment import builder_source_digest

    return {
        "builder_version": __version__,
        "builder_source": builder_source_digest(),
        "profile_sha256": profile.sha256(),
        "weights": {"identity": weights.identity, "sha256": weights.sha256},
        "environment_id": environment_id,
        # A TensorRT engine is bound to the GPU model; an ONNX Runtime CPU model is not.
        "gpu": gpu_identity if profile.backend is Backend.TENSORRT else "",
    }


def compute_build_key(
    profile: Profile, weights: WeightsFingerprint, environment_id: str, gpu_identity: str = ""
) -> str:
    """Hex sha256 of :func:`build_key_inputs` in canonical JSON."""
    inputs = build_key_inputs(profile, weights, environment_id, gpu_identity)
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
