"""Hash-locked container requirements and the wheelhouse made from them.

``requirements/<flavour>.in`` lists the top-level packages; :func:`write_lock`
resolves them with pip's own resolver (``pip install --dry-run --report``) for
the flavour's *target* interpreter and platform, not this machine's, and writes
``requirements/<flavour>.txt`` with one sha256 per package.  The image installs
that file with ``pip install --require-hashes --no-deps``; :func:`download_wheelhouse`
fetches exactly those files for an offline image build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from builder.common.safe_io import TEXT_BYTES, read_text
from builder.errors import HostEnvironmentError, UsageError

LOCK_PYTHON_ENV = "ENGINE_FOUNDRY_LOCK_PYTHON"

#: flavour -> (CPython version, glibc minor version) of its base image
TARGETS = {
    "cpu": ("3.11", 36),  # Debian bookworm: CPython 3.11, glibc 2.36
    "trt": ("3.10", 35),  # NGC TensorRT 23.08 (Ubuntu 22.04): CPython 3.10, glibc 2.35
    "trt10": ("3.12", 39),  # NGC TensorRT 25.01 (Ubuntu 24.04): CPython 3.12.3, glibc 2.39
}


def platform_tags(glibc_minor: int) -> list[str]:
    """Every manylinux tag an x86_64 system with glibc 2.<glibc_minor> accepts, newest first."""
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 4, -1)]
    return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def target_pip_args(flavour: str) -> list[str]:
    """pip options that make pip choose files for ``flavour``'s interpreter instead of this one."""
    if flavour not in TARGETS:
        raise UsageError(f"unknown flavour {flavour!r}", hint=f"use one of: {', '.join(sorted(TARGETS))}")
    python, glibc_minor = TARGETS[flavour]
    platforms = [f"--platform={tag}" for tag in platform_tags(glibc_minor)]
    return ["--only-binary=:all:", f"--python-version={python}", "--implementation=cp", *platforms]


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def excluded_names(in_text: str) -> set[str]:
    """Package names on ``# exclude: NAME`` lines: resolved, but left out of the lock."""
    pattern = re.compile(r"^#\s*exclude:\s*(\S+)\s*$")
    return {normalize(m.group(1)) for line in in_text.splitlines() if (m := pattern.match(line.strip()))}


def lock_interpreter(flavour: str) -> str:
    """A Python of the flavour's version: ``$ENGINE_FOUNDRY_LOCK_PYTHON``, else ``python3.X`` on PATH, else this one.

    pip evaluates environment markers (``python_version >= "3.11"``) with the interpreter it runs
    on, whatever ``--python-version`` says, so only a matching interpreter resolves correctly.
    """
    version = TARGETS[flavour][0]
    for candidate in (os.environ.get(LOCK_PYTHON_ENV), shutil.which(f"python{version}")):
        if candidate and _python_version(candidate) == version:
            return candidate
    if _python_version(sys.executable) != version:
        print(
            f"WARNING no Python {version} found (set {LOCK_PYTHON_ENV}); markers are evaluated for this Python",
            file=sys.stderr,
        )
    return sys.executable


def _python_version(python: str) -> str | None:
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def resolve(in_file: Path, flavour: str, pip_args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The ``install`` list of pip's resolution report for ``in_file`` on ``flavour``'s target.

    Raises:
        HostEnvironmentError: pip could not resolve the requirements.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            lock_interpreter(flavour), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            *target_pip_args(flavour), "--target", str(Path(tmp) / "target"),
            "--report", str(report), "-r", str(in_file), *pip_args,
        ]  # fmt: skip
        if subprocess.run(cmd).returncode != 0:
            raise HostEnvironmentError(
                f"pip could not resolve {in_file} for the {flavour} image", hint="read pip's message above"
            )
        install: list[dict[str, Any]] = json.loads(report.read_text())["install"]
        return install


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(item: dict[str, Any]) -> str:
    """The sha256 of one resolved file: as the index gave it, else hashed from the local file."""
    info = item["download_info"]
    hashes = info.get("archive_info", {}).get("hashes", {})
    if "sha256" in hashes:
        return str(hashes["sha256"])
    url = urllib.parse.urlparse(info["url"])
    if url.scheme != "file":
        raise HostEnvironmentError(
            f"the index gave no sha256 for {info['url']}", hint="use an index that publishes hashes"
        )
    return _sha256(Path(urllib.parse.unquote(url.path)))


def render_lock(flavour: str, items: list[dict[str, Any]], excluded: set[str]) -> str:
    """Lock file text: ``name==version`` and its ``--hash=sha256:…``, sorted by name."""
    python, glibc_minor = TARGETS[flavour]
    lines = [
        f"# Hash-locked dependencies of the {flavour} image (CPython {python}, x86_64, glibc 2.{glibc_minor}).",
        f"# Generated by `python3 -m builder lock --flavour {flavour}` from {flavour}.in: do not edit by hand.",
        "# Installed with `pip install --require-hashes --no-deps -r` (see Dockerfile).",
    ]
    for item in sorted(items, key=lambda i: normalize(i["metadata"]["name"])):
        name = normalize(item["metadata"]["name"])
        if name not in excluded:
            lines += [f"{name}=={item['metadata']['version']} \\", f"    --hash=sha256:{file_sha256(item)}"]
    return "\n".join(lines) + "\n"


def write_lock(requirements_dir: Path, flavour: str, pip_args: Sequence[str] = (), check: bool = False) -> bool:
    """Resolve ``<flavour>.in`` and write ``<flavour>.txt``; with ``check``, only compare.

    Returns:
        True when the lock file was (or, with ``check``, already is) up to date.
    """
    in_file = requirements_dir / f"{flavour}.in"
    if not in_file.is_file():
        raise UsageError(
            f"no {in_file}", hint=f"create it: one top-level requirement per line (see {requirements_dir}/cpu.in)"
        )
    out_file = requirements_dir / f"{flavour}.txt"
    text = render_lock(
        flavour,
        resolve(in_file, flavour, pip_args),
        excluded_names(read_text(in_file, what="requirements file", limit=TEXT_BYTES)),
    )
    current = read_text(out_file, what="lock file", limit=TEXT_BYTES) if out_file.exists() else ""
    if check:
        return current == text
    out_file.write_text(text)
    return True


def download_wheelhouse(requirements_dir: Path, flavour: str, dest: Path, pip_args: Sequence[str] = ()) -> Path:
    """Download every file of ``<flavour>.txt`` (hashes checked) into ``dest``; files already there are kept.

    Raises:
        HostEnvironmentError: pip could not fetch a file or a hash did not match.
    """
    lock = requirements_dir / f"{flavour}.txt"
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", read_text(lock, what="lock file", limit=TEXT_BYTES)))
    if wanted and wanted <= {_sha256(path) for path in dest.iterdir() if path.is_file()}:
        return dest  # every locked file is already there, hashes checked
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", *target_pip_args(flavour),
        "--dest", str(dest), "-r", str(lock), *pip_args,
    ]  # fmt: skip
    if subprocess.run(cmd).returncode != 0:
        raise HostEnvironmentError(
            f"could not download the wheels of {lock} into {dest}",
            hint="check pip's index configuration (`pip config list`) or build online: `make image WHEELHOUSE=`",
        )
    return dest
