"""A CycloneDX 1.6 SBOM (JSON) of a build's environment, from the hash lock its image installs.

The image of flavour ``f`` installs exactly ``requirements/f.txt`` (``pip install --require-hashes --no-deps``, the
Dockerfile), so that lock is the image's Python package set: one ``library`` component per locked package, with its
``pkg:pypi`` purl and the lock's sha256 of each allowed distribution file. The flavour comes from the manifest's
profile (its backend, and the TensorRT version for the TensorRT backend). The SBOM records the lock's own sha256 and
whether it equals the dependency digest the build's image recorded (``dependency-lock`` of the provenance): a build
run outside an image, or from an image made from another lock, says so instead of claiming what it did not use.

Written by hand rather than with cyclonedx-python-lib: the document is ~30 lines of plain JSON from a file we
already parse, and the library would add five packages to every host that bundles. Deterministic (no clock, no
random serial number): the same manifest and lock give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

from builder.errors import ArtifactError
from builder.ops.provenance import dependency_digests
from builder.record.manifest_read import ManifestView, ResolvedView

SBOM_NAME = "sbom.cdx.json"
SPEC_VERSION = "1.6"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def sbom_facts(manifest: ManifestView) -> dict[str, Any]:
    """Every manifest field the SBOM uses, in one place."""
    return {
        "profile": manifest.profile.name,
        "resolved": manifest.profile.resolved,
        "build_id": manifest.build_id,
        "finished_at": manifest.finished_or_created,
        "environment_identity": manifest.environment.identity,
    }


def image_flavour(resolved: ResolvedView) -> str:
    """The image flavour a resolved profile builds in (the backend catalogue's rule, as ``make engine`` uses it)."""
    from builder.backends.catalog import get_backend_entry

    entry = get_backend_entry(resolved.backend)
    return entry.flavour_for(resolved.data.get(entry.version_field) if entry.version_field else None)


def parse_lock(text: str) -> list[tuple[str, str, list[str]]]:
    """``(name, version, [sha256, ...])`` of each package of a ``pip --require-hashes`` lock, in file order."""
    packages: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        pin = _PIN.match(line.strip())
        if pin:
            packages.append((pin.group(1), pin.group(2), []))
        if packages:
            packages[-1][2].extend(_HASH.findall(line))
    return packages


def sbom_document(manifest: ManifestView, requirements: Path = REQUIREMENTS) -> dict[str, Any]:
    """The CycloneDX document for ``manifest``'s build environment.

    Raises:
        ArtifactError: the image's lock file is missing (a checkout without ``requirements/``).
    """
    facts = sbom_facts(manifest)
    flavour = image_flavour(facts["resolved"])
    lock = requirements / f"{flavour}.txt"
    try:
        data = lock.read_bytes()
    except OSError as err:
        raise ArtifactError(
            f"{lock}: the {flavour} image's lock file is unreadable ({err.strerror})",
            hint="make the bundle from an Engine Foundry checkout (requirements/ holds the image locks)",
        ) from None
    lock_sha = hashlib.sha256(data).hexdigest()
    recorded = dependency_digests(facts["environment_identity"])["deps"]
    # the image's deps digest of this lock without an ultralytics override (builder.host.image.deps_digest)
    locked = hashlib.sha256(data + b"\0\0").hexdigest()
    matches = "unknown (built outside an image)" if recorded is None else str(recorded == locked).lower()
    components = [
        {
            "type": "library",
            "bom-ref": f"pkg:pypi/{_purl_name(name)}@{version}",
            "name": name,
            "version": version,
            "purl": f"pkg:pypi/{_purl_name(name)}@{version}",
            "hashes": [{"alg": "SHA-256", "content": digest} for digest in digests],
        }
        for name, version, digests in parse_lock(data.decode())
    ]
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"engine-foundry:{facts['build_id']}:{lock_sha}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": facts["finished_at"],
            "tools": {"components": [{"type": "application", "name": "engine-foundry"}]},
            "component": {
                "type": "container",
                "bom-ref": f"engine-foundry:{flavour}",
                "name": f"engine-foundry:{flavour}",
                "description": f"the {flavour} build image's Python packages (requirements/{flavour}.txt)",
            },
            "properties": [
                {"name": "engine-foundry:profile", "value": str(facts["profile"])},
                {"name": "engine-foundry:build-id", "value": str(facts["build_id"])},
                {"name": "engine-foundry:lock", "value": f"requirements/{flavour}.txt"},
                {"name": "engine-foundry:lock-sha256", "value": lock_sha},
                {"name": "engine-foundry:environment-identity", "value": str(facts["environment_identity"])},
                {"name": "engine-foundry:lock-is-build-dependency-set", "value": matches},
            ],
        },
        "components": components,
        "dependencies": [{"ref": f"engine-foundry:{flavour}", "dependsOn": [c["bom-ref"] for c in components]}],
    }


def sbom_bytes(manifest: ManifestView, requirements: Path = REQUIREMENTS) -> bytes:
    """The SBOM as the bundle stores it (sorted keys, two-space indent, trailing newline)."""
    return (json.dumps(sbom_document(manifest, requirements), indent=2, sort_keys=True) + "\n").encode()


def _purl_name(name: str) -> str:
    """The purl spec's PyPI name: lowercased, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()
