"""The provenance statement every bundle carries: an in-toto Statement v1 with a SLSA build provenance v1 predicate.

It is a pure function of the build's manifest (:func:`provenance_statement`): the builder's version and source
hash, the profile, the weights digest, the dependency lock digest and the base image digest (from the image the
build ran in), the build node's host facts, and the digest of every output file (the statement's subjects, named
by their path in the build folder). ``verify`` recomputes it from the bundled manifest and names the first field
that disagrees (:func:`provenance_problems`); the signature (:mod:`builder.ops.signing`) covers both files.

Layout of the predicate (https://slsa.dev/spec/v1.0/provenance)::

    buildDefinition.buildType            BUILD_TYPE
    buildDefinition.externalParameters   {"profile": {name, source, sha256}}
    buildDefinition.internalParameters   {"build_key", "environment_identity", "host": {...}}
    buildDefinition.resolvedDependencies weights, builder source, dependency lock, base image (digest or null)
    runDetails.builder                   {"id": BUILDER_ID, "version": {"engine-foundry": ...}}
    runDetails.metadata                  {"invocationId": build id, "startedOn", "finishedOn"}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.common.safe_io import TEXT_BYTES, FileReadError, read_text
from builder.record.manifest_read import InputRef, ManifestView
from builder.verify.checks import VerifyReport

PROVENANCE_NAME = "provenance.intoto.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/engine-foundry/engine-foundry/build/v1"
BUILDER_ID = "https://github.com/engine-foundry/engine-foundry"


def build_facts(manifest: ManifestView) -> dict[str, Any]:
    """Every manifest field the provenance uses, in one place (the one function that reads the manifest)."""
    env, image, profile = manifest.environment, manifest.environment.image, manifest.profile
    weights = manifest.inputs.weights or InputRef(None, None, None)
    return {
        "build_id": manifest.build_id,
        "build_key": manifest.build_key,
        "builder_version": manifest.builder_version,
        "builder_source": manifest.builder_source,
        "profile": {"name": profile.name, "source": profile.source, "sha256": profile.sha256},
        "weights": {"identity": weights.identity, "sha256": weights.sha256},
        "environment_identity": env.identity,
        "image": {
            "ref": image.ref,
            "id": image.id,
            "base": image.base,
            "base_id": image.base_id,
            "base_pinned": image.base_pinned,
        },  # fmt: skip
        "host": {
            "machine": env.machine,
            "platform": env.platform,
            "python": env.python,
            "in_container": env.in_container,
            "gpus": [gpu.as_dict() for gpu in env.gpus],
            "driver": env.driver,
            "cuda": env.cuda,
            "tensorrt": env.tensorrt,
        },  # fmt: skip
        "packages": dict(env.packages),
        "outputs": [(a.path, a.sha256) for a in manifest.artifacts],
        "created_at": manifest.created_at,
        "finished_at": manifest.finished_at,
    }


def dependency_digests(identity: str | None) -> dict[str, str | None]:
    """The locked dependency set's and the base image's digests from an image build's environment identity
    (``image:deps=<sha256 of requirements/<flavour>.txt>;base=<registry digest or image ID>``,
    :func:`builder.machine.environment.image_identity`); None for each where the build ran outside such an image."""
    fields: dict[str, str | None] = {"deps": None, "base": None}
    if identity and identity.startswith("image:deps="):
        for part in identity.removeprefix("image:").split(";"):
            name, _, value = part.partition("=")
            if name in fields:
                fields[name] = value or None
    return fields


def provenance_statement(manifest: ManifestView) -> dict[str, Any]:
    """The in-toto statement for the build ``manifest`` describes (deterministic: same manifest, same bytes)."""
    facts = build_facts(manifest)
    digests = dependency_digests(facts["environment_identity"])
    base = digests["base"]
    base_digest = {"sha256": base.removeprefix("sha256:")} if base and base.startswith("sha256:") else None
    dependencies = [
        {"name": "weights", "uri": facts["weights"]["identity"], "digest": {"sha256": facts["weights"]["sha256"]}},
        {"name": "builder-source", "digest": {"sha256": facts["builder_source"]}},
        {
            "name": "dependency-lock",
            "digest": {"sha256": digests["deps"]} if digests["deps"] else None,
            "annotations": {"packages": facts["packages"]},
        },
        {"name": "base-image", "uri": facts["image"]["base"], "digest": base_digest},
    ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": path, "digest": {"sha256": sha256}} for path, sha256 in facts["outputs"]],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"profile": facts["profile"]},
                "internalParameters": {
                    "build_key": facts["build_key"],
                    "environment_identity": facts["environment_identity"],
                    "image": facts["image"],
                    "host": facts["host"],
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"engine-foundry": facts["builder_version"]}},
                "metadata": {
                    "invocationId": facts["build_id"],
                    "startedOn": facts["created_at"],
                    "finishedOn": facts["finished_at"],
                },
            },
        },
    }


def provenance_bytes(manifest: ManifestView) -> bytes:
    """The statement as the bundle stores it: sorted keys, two-space indent, one trailing newline."""
    return (json.dumps(provenance_statement(manifest), indent=2, sort_keys=True) + "\n").encode()


def provenance_problems(path: Path, manifest: ManifestView) -> list[str]:
    """Why the provenance file at ``path`` does not describe ``manifest``'s build (empty: it does), one per field."""
    try:
        recorded = json.loads(read_text(path, what="provenance statement", limit=TEXT_BYTES))
    except FileNotFoundError:
        return [f"{path}: missing: the bundle carries no provenance statement (make it again with `bundle`)"]
    except (OSError, ValueError, FileReadError) as err:
        return [f"{path}: unreadable ({err})"]
    expected = provenance_statement(manifest)
    return [
        f"{path}: {where} is {got} but the manifest says {want}"
        for where, got, want in _differences(recorded, expected)
    ]


def check_provenance(report: VerifyReport, path: Path, manifest: ManifestView, *, required: bool) -> None:
    """The ``provenance`` check of ``verify``: the statement at ``path`` must describe ``manifest``'s build.
    Absent: NO-GO when ``required`` (``--trusted-key``), else reported only (a bundle made before provenance)."""
    if not path.is_file() and not required:
        report.add("provenance", "skip", f"{path}: none (a bundle made before provenance statements)")
        return
    problems = provenance_problems(path, manifest)
    for problem in problems:
        report.add("provenance", "fail", problem)
    if not problems:
        subjects = len(provenance_statement(manifest)["subject"])
        report.add("provenance", "pass", f"{path.name} agrees with the manifest ({subjects} output digests)")


def _differences(got: Any, want: Any, where: str = "") -> list[tuple[str, str, str]]:
    """``(json path, recorded, expected)`` for each leaf that differs, in document order."""
    if isinstance(got, dict) and isinstance(want, dict):
        out: list[tuple[str, str, str]] = []
        for key in sorted(set(got) | set(want)):
            here = f"{where}.{key}" if where else key
            if key not in got or key not in want:
                out.append((here, _short(got.get(key, "(absent)")), _short(want.get(key, "(absent)"))))
            else:
                out += _differences(got[key], want[key], here)
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        pairs = zip(got, want, _labels(want), strict=True)
        return [d for g, w, label in pairs for d in _differences(g, w, f"{where}[{label}]")]
    return [] if got == want else [(where or "(the statement)", _short(got), _short(want))]


def _labels(items: list[Any]) -> list[str]:
    """How a list's items are named in a message: by their ``name`` (a subject's path, a dependency), else index."""
    return [str(item["name"]) if isinstance(item, dict) and "name" in item else str(i) for i, item in enumerate(items)]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
