"""The build key: a hash of everything that determines a build's output, and nothing else.

Inputs: the builder's version and own source, the resolved profile (this profile only), the weights, the
environment identity (an image's locked dependency set and base, never its image ID: see
:func:`builder.machine.environment.environment_identity`), for TensorRT the GPU model, and the content of the data sets
the profile reads (the accuracy gate's split; INT8's calibration images, those ``int8.samples`` selects). Host
(``builder.host.launch``) and container (``builder.pipeline.run``) both call :func:`build_key_for`, so the
host can tell that a build is up to date without starting a container. Dependency-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder import __version__
from builder.backends.catalog import needs_gpu
from builder.common.hashing import sha256_file
from builder.machine.environment import builder_source_digest, environment_identity
from builder.machine.gpu import GpuInfo, gpu_identity, list_gpus
from builder.profile import Profile
from builder.record.weights import WeightsFingerprint, weights_fingerprint


@dataclass(frozen=True)
class BuildKey:
    """The key, the inputs it hashes (recorded in the manifest) and the weights' fingerprint."""

    key: str
    inputs: dict[str, object]
    weights: WeightsFingerprint


def build_key_for(
    profile: Profile,
    models_dir: Path,
    image_id: str | None,
    gpus: Callable[[], Sequence[GpuInfo]] = list_gpus,
    *,
    environment_id: str | None = None,
) -> BuildKey:
    """The build key of ``profile`` with the weights under ``models_dir``, in image ``image_id``.

    ``gpus`` gives the GPUs the build will see; it is called only for a backend bound to the GPU model.
    ``environment_id``: the host's view of the image (:func:`builder.host.image.image_key_identity`, from its
    labels); default: :func:`builder.machine.environment.environment_identity` of this process.

    Raises:
        ModelError: the checkpoint is missing or fails its sha256 pin.
        DatasetError, ImageError: see :func:`data_digests`.
    """
    weights = weights_fingerprint(profile.model, models_dir)
    data = data_digests(profile, models_dir)
    gpu = gpu_identity(gpus()) if needs_gpu(profile.backend) else ""
    env_id = environment_id or environment_identity(image_id)
    key = compute_build_key(profile, weights, env_id, gpu, data)
    return BuildKey(key, build_key_inputs(profile, weights, env_id, gpu, data), weights)


def data_digests(profile: Profile, models_dir: Path) -> dict[str, str]:
    """The key inputs for the data sets ``profile`` reads, by input name; a profile that reads none has none.

    Raises:
        DatasetError: the accuracy data set is missing or malformed.
        ImageError: the INT8 calibration folder is missing or holds fewer than ``int8.samples`` images.
    """
    from builder.yolo.calibration_data import KEY_INPUT

    digests = {"accuracy_data_sha256": accuracy_data_sha256(profile, models_dir)}
    digests[KEY_INPUT] = calibration_data_sha256(profile, models_dir)
    digests[FROZEN_INPUT] = frozen_cache_sha256(profile, models_dir)
    return {name: digest for name, digest in digests.items() if digest}


def accuracy_data_sha256(profile: Profile, models_dir: Path) -> str:
    """Content digest of the profile's accuracy split (data.yaml, images, labels); "" without an accuracy gate.

    Raises:
        DatasetError: the data set is missing or malformed.
    """
    if profile.accuracy is None:
        return ""
    from builder.yolo.tasks import load_accuracy_split

    spec = profile.accuracy
    return load_accuracy_split(profile.task, models_dir, spec.data, spec.split, spec.samples).content_sha256()


FROZEN_INPUT = "frozen_timing_cache_sha256"


def frozen_cache_sha256(profile: Profile, models_dir: Path) -> str:
    """Digest of a ``frozen`` profile's committed timing cache (it decides the tactics); "" when not frozen or
    missing (the build stage then refuses, naming the file)."""
    path = models_dir / profile.frozen if profile.frozen is not None else None
    return sha256_file(path, what="timing cache") if path is not None and path.is_file() else ""


def calibration_data_sha256(profile: Profile, models_dir: Path) -> str:
    """Digest of the INT8 calibration images the build uses (:mod:`builder.yolo.calibration_data`); "" without INT8.

    Raises:
        ImageError: the calibration folder is missing or holds fewer than ``int8.samples`` images.
    """
    if profile.int8 is None:
        return ""
    from builder.yolo.calibration_data import calibration_set

    return calibration_set(models_dir, profile.int8.data, profile.int8.samples).sha256


def build_key_inputs(
    profile: Profile,
    weights: WeightsFingerprint,
    environment_id: str,
    gpu_identity: str = "",
    data: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The parts of the key, recorded in the manifest so a changed key can be explained."""
    inputs: dict[str, object] = {
        "builder_version": __version__,
        "builder_source": builder_source_digest(),
        "profile_sha256": profile.sha256(),
        "weights": {"identity": weights.identity, "sha256": weights.sha256},
        "environment_id": environment_id,
        # A GPU backend's artifact (a TensorRT engine) is bound to the GPU model; a CPU model is not.
        "gpu": gpu_identity if needs_gpu(profile.backend) else "",
    }
    # the mAP gate's split, the INT8 calibration images (:func:`data_digests`): absent where the profile reads no
    # such data, so the keys of the other profiles hold
    inputs.update(data or {})
    return inputs


def compute_build_key(
    profile: Profile,
    weights: WeightsFingerprint,
    environment_id: str,
    gpu_identity: str = "",
    data: Mapping[str, str] | None = None,
) -> str:
    """Hex sha256 of :func:`build_key_inputs` in canonical JSON."""
    return key_of_inputs(build_key_inputs(profile, weights, environment_id, gpu_identity, data))


def key_of_inputs(inputs: Mapping[str, object]) -> str:
    """The build key of recorded key inputs (a manifest's ``key_inputs``): hex sha256 of their canonical JSON."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
