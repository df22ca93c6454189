"""Join a Ray cluster safely and take stock of its nodes.

A Ray cluster runs whatever it is sent, so the driver refuses a cluster without token authentication
(``RAY_AUTH_MODE=token``, Ray >= 2.52) unless told otherwise (``--allow-insecure-cluster``, loudly warned).
The driver never starts a cluster by itself: it joins an existing one (``auto``, ``host:port`` or ``ray://``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from builder.errors import HostEnvironmentError
from builder.farm.routing import FarmNode

AUTH_DOC = "docs/farm.md (Security)"


class FarmSecurityError(HostEnvironmentError):
    """The cluster (or this driver) runs without token authentication."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HostEnvironmentError(
            "the build farm needs Ray, which is not installed",
            hint="pip install -e '.[farm]' (or -r requirements/farm.txt)",
        ) from None
    return ray


def check_driver_auth(allow_insecure: bool, log: Callable[[str], None]) -> None:
    """Refuse to join without ``RAY_AUTH_MODE=token`` in this process (warn when ``allow_insecure``)."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return
    message = "RAY_AUTH_MODE is not 'token' here: the farm joins only clusters with Ray token authentication"
    if not allow_insecure:
        raise FarmSecurityError(
            message,
            hint=f"export RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); see {AUTH_DOC}",
        )
    log(
        f"WARNING {message}; going on because of --allow-insecure-cluster: anyone who reaches the cluster can run code on it"
    )


def connect(address: str, *, allow_insecure: bool, log: Callable[[str], None], node_logs: bool = False) -> Any:
    """Join the cluster at ``address`` (``auto``, ``host:port``, ``ray://host:port``); return the ``ray`` module.

    Raises:
        FarmSecurityError: no token authentication here.
        HostEnvironmentError: Ray is missing, or no cluster answers (or it refused this driver's token).
    """
    check_driver_auth(allow_insecure, log)
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, namespace="engine-foundry-farm", log_to_driver=node_logs, logging_level="WARNING")
    except Exception as err:  # ConnectionError, AuthenticationError, RuntimeError…: all say "cannot join"
        raise HostEnvironmentError(
            f"cannot join the Ray cluster at {address!r}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
            hint="start it first (`RAY_AUTH_MODE=token ray start --head --node-ip-address=127.0.0.1`), pass --address, "
            f"and give this driver the cluster's token; see {AUTH_DOC}",
        ) from None
    return ray


def alive_nodes(ray: Any) -> list[FarmNode]:
    """The cluster's alive nodes with their total resources."""
    return [
        FarmNode(str(n["NodeID"]), str(n.get("NodeManagerAddress", "")), dict(n.get("Resources") or {}))
        for n in ray.nodes()
        if n.get("Alive")
    ]


def probe_nodes(ray: Any, nodes: list[FarmNode], timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
    """Facts of every node (:func:`builder.farm.node.node_facts`), by node ID; nodes that do not answer are left out."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from builder.farm.node import node_facts

    probe = ray.remote(num_cpus=0, max_retries=0)(node_facts)
    refs = {
        n.node_id: probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote()
        for n in nodes
    }
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    facts = {}
    for node_id, ref in refs.items():
        if ref in ready:
            try:
                data = ray.get(ref)
            except Exception:  # a node that fails its probe is not used
                continue
            if isinstance(data, bytes):
                facts[node_id] = json.loads(data)
    return facts


def check_cluster_auth(facts: dict[str, dict[str, Any]], allow_insecure: bool, log: Callable[[str], None]) -> None:
    """Refuse (or, with ``allow_insecure``, warn) when any node runs without token authentication."""
    open_nodes = sorted(
        f"{f.get('ip')} ({node_id[:12]}: {f.get('auth_mode')})"
        for node_id, f in facts.items()
        if f.get("auth_mode") != "token"
    )
    if not open_nodes:
        return
    message = f"{len(open_nodes)} node(s) of the cluster run without Ray token authentication: {', '.join(open_nodes)}"
    if not allow_insecure:
        raise FarmSecurityError(
            message, hint=f"restart every node with RAY_AUTH_MODE=token and the same token; see {AUTH_DOC}"
        )
    log(f"WARNING {message}; going on because of --allow-insecure-cluster")
