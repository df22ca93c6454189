"""A Debian base image made locally, for machines whose Docker cannot pull one.

``debootstrap --variant=minbase`` writes a Debian root filesystem (Python 3,
venv, CA certificates) from an apt mirror; ``docker import`` turns it into
``engine-foundry/base:<suite>``.  The cpu flavour builds on it when no
registry answers (``make offline-base``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from builder.common.safe_io import TEXT_BYTES, FileReadError, read_text
from builder.errors import HostEnvironmentError
from builder.host.docker_engine import ContainerEngine, ImageInfo
from builder.host.progress import PhaseLog

DEFAULT_SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
MIRROR_ENV = "ENGINE_FOUNDRY_DEBIAN_MIRROR"
DEBOOTSTRAP_TIMEOUT_S = 900


def offline_base_ref(suite: str = DEFAULT_SUITE) -> str:
    """The tag of the local base image for ``suite``."""
    return f"engine-foundry/base:{suite}"


def mirrors_from_apt(apt_dir: Path = Path("/etc/apt")) -> list[str]:
    """Debian mirror URIs configured for apt (deb822 ``.sources`` and one-line ``.list`` files), in file order.

    Security and third-party archives are left out: only URIs whose path ends in ``/debian``.
    """
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    uris: list[str] = []
    for path in files:
        try:
            text = read_text(path, what="apt source list", limit=TEXT_BYTES)
        except (OSError, ValueError, FileReadError):
            continue
        if path.suffix == ".sources":
            found = re.findall(r"^URIs:\s*(.+)$", text, flags=re.MULTILINE)
            candidates = [uri for line in found for uri in line.split()]
        else:
            candidates = re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.MULTILINE)
        uris += [uri.rstrip("/") for uri in candidates if uri.rstrip("/").endswith("/debian")]
    return list(dict.fromkeys(uris))


def default_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """``$ENGINE_FOUNDRY_DEBIAN_MIRROR``, else the first Debian mirror apt uses.

    Raises:
        HostEnvironmentError: neither is set.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/")
    mirrors = mirrors_from_apt(apt_dir)
    if not mirrors:
        raise HostEnvironmentError(
            f"no Debian mirror found in {apt_dir}/sources.list{{,.d/}}",
            hint=f"pass --mirror URL (or set {MIRROR_ENV}) to a Debian mirror this machine reaches",
        )
    return mirrors[0]


def check_prerequisites() -> None:
    """debootstrap is installed and we are root.

    Raises:
        HostEnvironmentError: either is not the case.
    """
    if shutil.which("debootstrap") is None:
        raise HostEnvironmentError(
            "debootstrap is not installed", hint="install it: `sudo apt-get install -y debootstrap`"
        )
    if os.geteuid() != 0:
        raise HostEnvironmentError(
            "making the offline base needs root (debootstrap creates device nodes and chroots)",
            hint="run it as root: `sudo make offline-base`",
        )


def check_mirror(mirror: str, suite: str, timeout: float = 15) -> None:
    """The mirror serves ``dists/<suite>/Release``.

    Raises:
        HostEnvironmentError: it does not answer, or has no such suite.
    """
    url = f"{mirror}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            pass
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HostEnvironmentError(
            f"Debian mirror {mirror} is unreachable or has no suite {suite!r} ({url}: {reason})",
            hint=f"pass --mirror URL (or set {MIRROR_ENV}) to a mirror this machine reaches, "
            "e.g. one from /etc/apt/sources.list.d",
        ) from None


def make_offline_base(
    engine: ContainerEngine,
    *,
    mirror: str | None = None,
    suite: str = DEFAULT_SUITE,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> ImageInfo:
    """Make (or find) ``engine-foundry/base:<suite>`` with debootstrap and docker import.

    Raises:
        HostEnvironmentError: debootstrap missing, not root, mirror unreachable, debootstrap failed.
    """
    ref = offline_base_ref(suite)
    existing = None if force else engine.image_info(ref)
    if existing is not None:
        log(f"offline base {ref} is already present ({existing.id[:19]}); pass --force to remake it")
        return existing
    check_prerequisites()
    mirror = (mirror or default_mirror()).rstrip("/")
    check_mirror(mirror, suite)
    phases = PhaseLog(log)
    phases.say(f"making {ref} from {mirror} ({suite}) with debootstrap: about a minute")
    with tempfile.TemporaryDirectory(prefix="ef-offline-base.", dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _debootstrap(rootfs, mirror, suite, Path(tmp) / "debootstrap.log")
        phases.say("debootstrap done; importing the Debian root file system into Docker")
        _trim(rootfs)
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"LABEL engine-foundry.offline-base.suite={suite}",
            f"LABEL engine-foundry.offline-base.mirror={mirror}",
            'CMD ["/bin/bash"]',
        ]
        info = engine.import_rootfs(tarball, ref, changes)
    phases.say(f"made {ref}: {info.id}")
    return info


def _debootstrap(rootfs: Path, mirror: str, suite: str, log_file: Path) -> None:
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, str(rootfs), mirror]
    with open(log_file, "w") as out:
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise HostEnvironmentError(
                f"debootstrap took longer than {DEBOOTSTRAP_TIMEOUT_S} s",
                hint="check the mirror's speed, or pass --mirror URL",
            ) from None
    if proc.returncode != 0:
        tail = " | ".join(log_file.read_text(errors="replace").strip().splitlines()[-5:])
        raise HostEnvironmentError(
            f"debootstrap {suite} from {mirror} failed (exit {proc.returncode}): {tail}",
            hint="check the mirror with --mirror URL; `debootstrap` needs root and a few hundred MB in $TMPDIR",
        )


def _trim(rootfs: Path) -> None:
    """Drop downloaded packages and apt lists: they only make the image bigger."""
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / folder).glob("*"):
            if path.is_file():
                path.unlink()
