"""The driver's side without a cluster: a real build's bundle bytes verified as untrusted, published once.

One real bare build (tiny profile) made here; the node side's :func:`full_bundle_bytes` packs it as a node
would. No Ray needed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.common.hashing import SUMS_NAME, check_folder, parse_sums
from builder.farm.node import full_bundle_bytes
from builder.farm.receive import Expected, publish_bundle, verify_bundle_bytes
from builder.record.layout import ArtifactLayout
from builder.record.manifest_read import read_manifest
from tests.ops.fakes import synthetic_manifest
from tests.support import REPO, make_profile

pytestmark = pytest.mark.farm  # no Ray needed: runs wherever the suite runs

PROFILE = make_profile(name="recv")


@pytest.fixture(scope="module")
def node_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    """(the node-local build folder, its bundle bytes, its build key)."""
    from builder.pipeline.run import BuildSettings, run_build

    root = tmp_path_factory.mktemp("node")
    settings = BuildSettings(
        artifacts=root / "artifacts", models=root / "models", cache_dir=root / "cache", log=lambda line: None
    )
    outcome = run_build(PROFILE, settings)
    return outcome.build_dir, full_bundle_bytes(outcome.build_dir, root / "outbox"), outcome.build_key


def expected(key: str) -> Expected:
    from builder.verify.compat import current_host

    host = current_host(gpus=False)
    return Expected(
        key,
        PROFILE.sha256(),
        {"node_id": "node-under-test", "gpus": [], "tensorrt": None, "onnxruntime": host.onnxruntime},
    )


def test_good_bytes_pass_and_publish_a_complete_build_once(node_build: tuple[Path, bytes, str], tmp_path: Path) -> None:
    build_dir, data, key = node_build
    report = verify_bundle_bytes(data, expected(key), tmp_path)
    assert report.ok, report.checks
    names = {c.name for c in report.checks}
    assert {
        "bundle",
        "bundle-checksums",
        "manifest",
        "checksums",
        "farm-build-key",
        "farm-profile",
        "node-onnxruntime",
    } <= names
    layout = ArtifactLayout(tmp_path / "central", PROFILE.name)
    final, published = publish_bundle(tmp_path / "bundle.tar.gz", layout, key)
    assert published and final.name == build_dir.name and layout.latest_dir() == final.resolve()
    assert check_folder(final, parse_sums((final / SUMS_NAME).read_text())) == []  # every file of the build, none extra
    assert sorted(p.name for p in final.iterdir()) == sorted(p.name for p in build_dir.iterdir())
    again, published_again = publish_bundle(tmp_path / "bundle.tar.gz", layout, key)
    assert (again, published_again) == (final, False) and len(layout.good_builds()) == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) * 2 // 3], id="truncated"),
        pytest.param(lambda b: b[:200] + bytes([b[200] ^ 1]) + b[201:], id="flipped-bit-in-header"),
        pytest.param(
            lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0xFF]) + b[len(b) // 2 + 1 :],
            id="flipped-byte-in-middle",
        ),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"\x80\x04\x95" + b, id="pickle-prefix"),
    ],
)
def test_damaged_bytes_are_no_go(node_build: tuple[Path, bytes, str], tmp_path: Path, damage) -> None:
    _, data, key = node_build
    report = verify_bundle_bytes(damage(data), expected(key), tmp_path)
    assert not report.ok
    assert not (tmp_path / "central").exists()


def test_a_build_with_another_key_or_profile_is_no_go(node_build: tuple[Path, bytes, str], tmp_path: Path) -> None:
    _, data, key = node_build
    wrong_key = verify_bundle_bytes(data, expected("0" * 64), tmp_path)
    assert [c.name for c in wrong_key.checks if c.status == "fail"] == ["farm-build-key"]
    other = Expected(key, make_profile(name="recv", imgsz=(96, 96)).sha256(), expected(key).node_facts)
    assert [c.name for c in verify_bundle_bytes(data, other, tmp_path).checks if c.status == "fail"] == ["farm-profile"]


PUBLISH = """
import sys
from pathlib import Path
from builder.farm.receive import publish_bundle
from builder.record.layout import ArtifactLayout
final, published = publish_bundle(Path(sys.argv[1]), ArtifactLayout(Path(sys.argv[2]), "recv"), sys.argv[3])
print("PUBLISHED" if published else "SKIPPED", final.name)
"""


def test_two_receivers_of_the_same_build_publish_it_once(node_build: tuple[Path, bytes, str], tmp_path: Path) -> None:
    _, data, key = node_build
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(data)
    argv = [sys.executable, "-c", PUBLISH, str(archive), str(tmp_path / "central"), key]
    runs = [subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = sorted(run.communicate(timeout=120)[0].split()[0] for run in runs)
    assert outputs == ["PUBLISHED", "SKIPPED", "SKIPPED"]
    assert len(ArtifactLayout(tmp_path / "central", "recv").good_builds()) == 1


def test_docker_runner_key_is_recomputed_from_the_image_the_build_records(
    node_build: tuple[Path, bytes, str], tmp_path: Path
) -> None:
    """With the Docker runner only the node knows the image ID: the driver recomputes the key from the manifest's
    environment identity, which must be an image (this bare build's is not, so it is refused)."""
    _, data, key = node_build
    docker_like = Expected(None, PROFILE.sha256(), expected(key).node_facts, key_for_environment=lambda env: "f" * 64)
    for environment_id, key_for_it in (("image:sha256:" + "a" * 64, "f" * 64), ("bare:0123", "")):
        manifest = synthetic_manifest("tiny")
        manifest["key_inputs"] = {"environment_id": environment_id}
        assert docker_like.key_for(read_manifest(manifest)) == key_for_it
    report = verify_bundle_bytes(data, docker_like, tmp_path)
    assert [c.name for c in report.checks if c.status == "fail"] == ["farm-build-key"]
