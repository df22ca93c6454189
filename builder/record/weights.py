"""Identify the weights a profile builds from, without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.common.hashing import sha256_file, sha256_text
from builder.common.safe_io import CHECKPOINT_BYTES
from builder.errors import ModelError
from builder.profile import ModelSpec

#: What an untrained model (a shipped model YAML with a seed: random weights) makes meaningless, said in the build's
#: output and recorded in its manifest (``inputs.weights``). Its class scores sit at the Detect head's bias prior
#: (1e-5..1.6e-4 at 640, ultralytics nn/modules/head.py ``bias_init``), so every score is within any tolerance of every
#: other and the boxes barely depend on the input: a reduced-precision engine agrees with FP32 whatever it computes.
UNTRAINED_CHECKS = {
    "verify.detections": "detection agreement: every score sits at the head's bias prior, so any engine agrees",
    "verify.tensors (fp16, int8)": "tensor tolerances: outputs barely depend on the input",
    "accuracy": "an mAP gate: an untrained model finds nothing (mAP 0 for the reference and the artifact alike)",
}


@dataclass(frozen=True)
class WeightsFingerprint:
    identity: str  # "checkpoint:<rel path>" or "yaml:<name>:seed=<n>"
    sha256: str  # of the checkpoint bytes, or of the identity for a shipped model YAML
    path: Path | None  # the checkpoint file, None for a shipped model YAML

    @property
    def untrained(self) -> bool:
        """Random weights: a shipped model YAML initialised with a seed, not a trained checkpoint."""
        return self.path is None

    def record(self) -> dict[str, object]:
        """The manifest's ``inputs.weights``: identity and digest; for untrained weights, what that makes moot."""
        data: dict[str, object] = {"identity": self.identity, "sha256": self.sha256}
        if self.untrained:
            data["untrained"] = True
            data["not_meaningful"] = dict(UNTRAINED_CHECKS)
        return data


def weights_fingerprint(model: ModelSpec, models_dir: Path) -> WeightsFingerprint:
    """Locate and hash the weights; check the profile's sha256 pin.

    A shipped model YAML is identified by name and seed: the ultralytics
    version that interprets it is part of the environment identity.

    Raises:
        ModelError: the checkpoint is missing, not a file, or does not match its pin.
    """
    if model.yaml is not None:
        return WeightsFingerprint(model.identity, sha256_text(model.identity), None)
    if model.checkpoint is None:
        raise ModelError(
            "the profile's model names neither a checkpoint nor a yaml", hint="set model.yaml or model.checkpoint"
        )
    path = models_dir / model.checkpoint
    if path.is_dir():
        raise ModelError(
            f"checkpoint {path} is a folder, not a file", hint="point model.checkpoint at the .pt file inside it"
        )
    if not path.exists():  # a FIFO, device or oversized file is refused, named, by sha256_file
        raise ModelError(
            f"checkpoint {model.checkpoint!r} not found in models folder {models_dir}",
            hint=f"put the .pt file at {path}, or pass --models DIR pointing at the folder that holds it",
        )
    try:
        digest = sha256_file(path, what="checkpoint", limit=CHECKPOINT_BYTES)  # regular file checked first
    except OSError as err:
        raise ModelError(
            f"checkpoint {path} cannot be read ({err.strerror})",
            hint="make the file readable by the user that runs the build (or the container's user, uid 1000)",
        ) from None
    if model.sha256 is not None and digest != model.sha256.lower():
        raise ModelError(
            f"checkpoint {path} has sha256 {digest}, but the profile pins {model.sha256}",
            hint="use the checkpoint the profile was written for, "
            "or update model.sha256 if the new weights are intended",
        )
    return WeightsFingerprint(model.identity, digest, path)
