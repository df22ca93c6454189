"""Requirement locks: target platform options, exclusions, rendering, and the shipped lock is what pip resolves."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from builder.errors import UsageError
from builder.host.lockfile import excluded_names, normalize, platform_tags, render_lock, target_pip_args
from tests.support import REPO


def test_platform_tags_cover_every_older_glibc() -> None:
    tags = platform_tags(36)
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in tags and tags[-1] == "manylinux1_x86_64"


def test_target_args_pin_the_interpreter_not_this_one() -> None:
    args = target_pip_args("trt")
    assert (
        "--python-version=3.10" in args and "--only-binary=:all:" in args and "--platform=manylinux_2_35_x86_64" in args
    )
    with pytest.raises(UsageError, match="unknown flavour"):
        target_pip_args("gpu")


def test_exclusions() -> None:
    assert excluded_names("x==1\n# exclude: OpenCV_Python\n#exclude:foo.bar\n# not an exclude: baz\n") == {
        "opencv-python",
        "foo-bar",
    }


def test_render_hashes_index_and_local_files(tmp_path: Path) -> None:
    wheel = tmp_path / "local_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    items = [
        {"metadata": {"name": "Zeta_Pkg", "version": "2.0"},
         "download_info": {"url": "https://files.example/z.whl", "archive_info": {"hashes": {"sha256": "ab" * 32}}}},
        {"metadata": {"name": "local-pkg", "version": "1.0"},
         "download_info": {"url": wheel.as_uri(), "archive_info": {}}},
        {"metadata": {"name": "opencv-python", "version": "5"},
         "download_info": {"url": "https://files.example/o.whl", "archive_info": {"hashes": {"sha256": "cd" * 32}}}},
    ]  # fmt: skip
    text = render_lock("cpu", items, {"opencv-python"})
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == [
        "local-pkg==1.0 \\", f"    --hash=sha256:{hashlib.sha256(b'wheel bytes').hexdigest()}",
        "zeta-pkg==2.0 \\", f"    --hash=sha256:{'ab' * 32}",
    ]  # fmt: skip


def test_shipped_cpu_lock_pins_every_package_by_hash() -> None:
    text = (REPO / "requirements" / "cpu.txt").read_text()
    names = re.findall(r"^([a-z0-9-]+)==\S+ \\$", text, flags=re.MULTILINE)
    assert len(names) == text.count("--hash=sha256:") and {
        "torch",
        "ultralytics",
        "onnxruntime",
        "onnxslim",
        "polygraphy",
    } <= set(names)
    assert "opencv-python" not in names and "opencv-python-headless" in names


@pytest.mark.parametrize("flavour", ["cpu", "trt"])
def test_lock_pins_what_its_in_file_pins(flavour: str) -> None:
    """Every ``name==version`` of ``<flavour>.in`` is in ``<flavour>.txt`` at that version; excluded names are not."""
    in_text = (REPO / "requirements" / f"{flavour}.in").read_text()
    locked = dict(
        re.findall(
            r"^([a-z0-9-]+)==(\S+) \\$", (REPO / "requirements" / f"{flavour}.txt").read_text(), flags=re.MULTILINE
        )
    )
    pinned = {normalize(n): v for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", in_text, flags=re.MULTILINE)}
    assert pinned and all(locked.get(name) == version for name, version in pinned.items()), (
        f"run `python3 -m builder lock --flavour {flavour}`"
    )
    assert not excluded_names(in_text) & set(locked)


@pytest.mark.slow  # runs pip
def test_complete_wheelhouse_is_not_downloaded_again(tmp_path: Path) -> None:
    from builder.host.lockfile import download_wheelhouse

    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    (wheelhouse / "pkg-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / "cpu.txt").write_text(f"pkg==1.0 \\\n    --hash=sha256:{hashlib.sha256(b'wheel').hexdigest()}\n")
    assert download_wheelhouse(tmp_path, "cpu", wheelhouse, ["--index-url=http://127.0.0.1:9/none"]) == wheelhouse
    (tmp_path / "cpu.txt").write_text(f"pkg==1.0 \\\n    --hash=sha256:{'0' * 64}\n")
    with pytest.raises(Exception, match="could not download"):
        download_wheelhouse(tmp_path, "cpu", wheelhouse, ["--no-index"])


@pytest.mark.slow  # runs pip's resolver
def test_write_lock_resolves_with_pip_and_hashes_the_file(tmp_path: Path) -> None:
    """A real pip resolution (offline, from a find-links folder) into a lock file, then --check."""
    import zipfile

    from builder.host.lockfile import write_lock

    links = tmp_path / "links"
    links.mkdir()
    wheel = links / "tiny_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tiny_pkg/__init__.py", "")
        archive.writestr("tiny_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tiny-pkg\nVersion: 1.0\n")
        archive.writestr(
            "tiny_pkg-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr("tiny_pkg-1.0.dist-info/RECORD", "")
    requirements = tmp_path / "requirements"
    requirements.mkdir()
    (requirements / "cpu.in").write_text("tiny_pkg==1.0\n")
    offline = ["--no-index", f"--find-links={links}"]
    assert not write_lock(requirements, "cpu", offline, check=True), "no lock yet: stale"
    assert write_lock(requirements, "cpu", offline)
    body = [line for line in (requirements / "cpu.txt").read_text().splitlines() if not line.startswith("#")]
    assert body == ["tiny-pkg==1.0 \\", f"    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}"]
    assert write_lock(requirements, "cpu", offline, check=True)
