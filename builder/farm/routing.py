"""Which Ray resources route a profile to a node that can build it (pure; no Ray import).

Ray labels every GPU node with a resource ``accelerator_type:<type>`` (``T4``, ``A10G``, ``A100``, ``H100``, ``L4``…).
A profile of a GPU backend (the catalogue's ``needs_gpu``, e.g. TensorRT) with ``target.gpu`` goes to a node whose
accelerator type matches it by the same rule as the local target check
(:func:`builder.backends.tensorrt.target.name_match`: exact or same family, vendor words ignored, so ``A10`` matches
neither ``A10G`` nor ``A100``), with one GPU. One without ``target.gpu`` needs any GPU node. A CPU profile goes to
any node, or to the nodes that offer the custom resource of the pool it is given (``--pool``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from builder.backends.catalog import needs_gpu
from builder.backends.tensorrt.target import name_match, target_gpu_names
from builder.errors import HostEnvironmentError
from builder.profile import Profile

ACCELERATOR_PREFIX = "accelerator_type:"
ROUTING_SHARE = 0.001  # the share of a routing resource one task takes: any number of builds fit on the node


class FarmRoutingError(HostEnvironmentError):
    """Profiles that no node of the cluster can serve (all of them, in one message)."""


@dataclass(frozen=True)
class FarmNode:
    """One alive node of the cluster as Ray reports it (``ray.nodes()``)."""

    node_id: str
    ip: str
    resources: Mapping[str, float] = field(default_factory=dict)

    @property
    def accelerator_types(self) -> tuple[str, ...]:
        return tuple(sorted(k[len(ACCELERATOR_PREFIX) :] for k in self.resources if k.startswith(ACCELERATOR_PREFIX)))

    @property
    def gpus(self) -> float:
        return float(self.resources.get("GPU", 0))


@dataclass(frozen=True)
class Route:
    """How one profile is scheduled: Ray task options and the nodes that may run it."""

    profile: str
    label: str  # the accelerator type, the pool, or "any node" / "any GPU node"
    num_gpus: int
    resources: Mapping[str, float]
    candidates: tuple[str, ...]  # node IDs

    def ray_options(self) -> dict[str, object]:
        return {"num_gpus": self.num_gpus, "resources": dict(self.resources)}


def cluster_accelerators(nodes: Sequence[FarmNode]) -> list[str]:
    return sorted({t for node in nodes for t in node.accelerator_types})


def route_profile(profile: Profile, nodes: Sequence[FarmNode], pool: str | None = None) -> Route | str:
    """The :class:`Route` of ``profile``, or one line saying why no node of ``nodes`` can serve it."""
    if needs_gpu(profile.backend):
        return _route_gpu(profile, nodes)
    if pool:
        able = [n for n in nodes if n.resources.get(pool, 0) > 0]
        if not able:
            return f"profile '{profile.name}' asks for pool '{pool}', but no node offers the resource '{pool}'"
        return Route(profile.name, pool, 0, {pool: ROUTING_SHARE}, tuple(n.node_id for n in able))
    able = [n for n in nodes if n.resources.get("CPU", 0) > 0]
    if not able:
        return f"profile '{profile.name}' needs a CPU, but no node offers one"
    return Route(profile.name, "any node", 0, {}, tuple(n.node_id for n in able))


def _route_gpu(profile: Profile, nodes: Sequence[FarmNode]) -> Route | str:
    gpu_nodes = [n for n in nodes if n.gpus >= 1]
    names = target_gpu_names(profile.target.gpu if profile.target else None)
    wanted = ", ".join(names)
    if not names:
        if not gpu_nodes:
            return f"{profile.backend.value} profile '{profile.name}' needs a GPU, but no node offers one"
        return Route(profile.name, "any GPU node", 1, {}, tuple(n.node_id for n in gpu_nodes))
    matching = sorted({t for n in gpu_nodes for t in n.accelerator_types if any(name_match(w, t) for w in names)})
    if not matching:
        return (
            f"{profile.backend.value} profile '{profile.name}' targets GPU '{wanted}', "
            "but no node with a GPU has a matching accelerator type"
        )
    # Ray cannot ask for "T4 or T4-16G": take the type most nodes offer (ties: by name).
    label = max(matching, key=lambda t: (sum(t in n.accelerator_types for n in gpu_nodes), [-ord(c) for c in t]))
    able = tuple(n.node_id for n in gpu_nodes if label in n.accelerator_types)
    return Route(profile.name, label, 1, {ACCELERATOR_PREFIX + label: ROUTING_SHARE}, able)


def route_all(
    profiles: Sequence[Profile], nodes: Sequence[FarmNode], pools: Mapping[str, str] | None = None
) -> list[Route]:
    """A route for every profile, or one error naming every profile that cannot be served.

    Raises:
        FarmRoutingError: some profile has no node; the message lists the cluster's accelerator types.
    """
    pools = pools or {}
    routes: list[Route] = []
    problems: list[str] = []
    for profile in profiles:
        found = route_profile(profile, nodes, pools.get(profile.name))
        if isinstance(found, str):
            problems.append(found)
        else:
            routes.append(found)
    if problems:
        types = ", ".join(cluster_accelerators(nodes)) or "none"
        raise FarmRoutingError(
            f"{'; '.join(problems)} (cluster: {len(nodes)} node(s), accelerator types: {types})",
            hint="add a node with that GPU "
            "(`ray start --address=…` on such a host: Ray labels it accelerator_type:<GPU>), "
            "or leave the profile out of --profiles; nothing was started",
        )
    return routes
