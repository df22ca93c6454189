"""Offline base: mirror discovery from apt sources, and each prerequisite's clear error."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from builder.errors import HostEnvironmentError
from builder.host.offline_base import (
    check_mirror,
    check_prerequisites,
    default_mirror,
    make_offline_base,
    mirrors_from_apt,
)
from tests.host.fakes import FakeEngine


def apt_dir(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://one.example/debian/ bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://two.example/debian\nSuites: bookworm bookworm-updates\n\n"
        "Types: deb\nURIs: http://two.example/debian-security\nSuites: bookworm-security\n"
    )
    (tmp_path / "sources.list.d" / "other.list").write_text("deb https://vendor.example/apt stable main\n")
    return tmp_path


def test_mirrors_come_from_apt_sources_in_order(tmp_path: Path) -> None:
    assert mirrors_from_apt(apt_dir(tmp_path)) == ["http://one.example/debian", "http://two.example/debian"]


def test_environment_overrides_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apt = apt_dir(tmp_path)
    monkeypatch.setenv("ENGINE_FOUNDRY_DEBIAN_MIRROR", "http://mine.example/debian/")
    assert default_mirror(apt) == "http://mine.example/debian"
    monkeypatch.delenv("ENGINE_FOUNDRY_DEBIAN_MIRROR")
    assert default_mirror(apt) == "http://one.example/debian"
    with pytest.raises(HostEnvironmentError, match="no Debian mirror") as err:
        default_mirror(tmp_path / "empty")
    assert "--mirror URL" in (err.value.hint or "")


def test_missing_debootstrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HostEnvironmentError, match="debootstrap is not installed") as err:
        check_prerequisites()
    assert err.value.hint == "install it: `sudo apt-get install -y debootstrap`"


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "debootstrap").write_text("#!/bin/sh\n")
    (tmp_path / "debootstrap").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HostEnvironmentError, match="needs root") as err:
        check_prerequisites()
    assert "sudo make offline-base" in (err.value.hint or "")


def test_unreachable_mirror_is_named() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(HostEnvironmentError, match=rf"mirror http://127.0.0.1:{port}/debian is unreachable") as err:
        check_mirror(f"http://127.0.0.1:{port}/debian", "bookworm", timeout=5)
    assert "--mirror URL" in (err.value.hint or "")


def test_present_base_is_reused_without_debootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no debootstrap: it must not be needed
    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", "sha256:" + "e" * 64)
    said: list[str] = []
    assert make_offline_base(engine, log=said.append).id == "sha256:" + "e" * 64
    assert engine.imports == [] and "already present" in said[0]
