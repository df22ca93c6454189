"""The farm's refusals without a cluster: no token mode here, a node that reports authentication off, no Ray."""

from __future__ import annotations

import pytest

from builder.farm.cluster import FarmSecurityError, check_cluster_auth, check_driver_auth

pytestmark = pytest.mark.farm  # no Ray needed: runs wherever the suite runs

# What builder.farm.node.collect_facts reports per node (the auth_mode field comes from
# ray._raylet.get_authentication_mode(), Ray 2.60).
TOKEN_NODE = {"ip": "10.0.0.5", "auth_mode": "token"}
OPEN_NODE = {"ip": "10.0.0.7", "auth_mode": "disabled"}


def test_driver_without_token_mode_is_refused_or_loudly_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(FarmSecurityError) as caught:
        check_driver_auth(False, print)
    assert caught.value.exit_code == 3 and "RAY_AUTH_MODE" in (caught.value.hint or "")
    lines: list[str] = []
    check_driver_auth(True, lines.append)
    assert lines and lines[0].startswith("WARNING") and "anyone who reaches the cluster can run code" in lines[0]
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    check_driver_auth(False, lines.append)
    assert len(lines) == 1


def test_a_node_with_authentication_off_is_refused_by_name() -> None:
    check_cluster_auth({"a" * 56: TOKEN_NODE}, False, print)
    with pytest.raises(FarmSecurityError) as caught:
        check_cluster_auth({"a" * 56: TOKEN_NODE, "b" * 56: OPEN_NODE}, False, print)
    assert (
        "1 node(s)" in caught.value.message
        and "10.0.0.7" in caught.value.message
        and "disabled" in caught.value.message
    )
    warned: list[str] = []
    check_cluster_auth({"b" * 56: OPEN_NODE}, True, warned.append)
    assert warned and warned[0].startswith("WARNING")


def test_the_cli_does_not_import_ray_for_help() -> None:
    import subprocess
    import sys

    from tests.support import REPO

    code = "import sys, builder.cli as c; c.build_parser(); print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
