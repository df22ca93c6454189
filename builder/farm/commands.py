"""The ``farm`` subcommand: build profiles on a Ray cluster (``make farm PROFILES="…"``).

``builder.cli`` calls :func:`register`; nothing here imports Ray (the handler does, lazily).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from builder.errors import UsageError


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def register(sub: argparse._SubParsersAction) -> None:
    farm = sub.add_parser(
        "farm", help="build profiles on a Ray cluster: each on a node with its target GPU, published here"
    )
    farm.add_argument("--profiles", nargs="+", required=True, metavar="PROFILE", help="profile names or YAML paths")
    farm.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS", "auto"),
        help="the cluster: auto (default), host:port, or ray://host:10001",
    )
    farm.add_argument(
        "--profiles-dir",
        type=Path,
        default=_env_path("ENGINE_FOUNDRY_PROFILES", "profiles"),
        help="folder of profile YAML files",
    )
    farm.add_argument(
        "--artifacts",
        type=Path,
        default=_env_path("ENGINE_FOUNDRY_ARTIFACTS", "artifacts"),
        help="central artifacts folder (default: ./artifacts)",
    )
    farm.add_argument(
        "--models",
        type=Path,
        default=_env_path("ENGINE_FOUNDRY_MODELS", "models"),
        help="checkpoints and calibration data",
    )
    farm.add_argument(
        "--reports",
        type=Path,
        default=_env_path("ENGINE_FOUNDRY_REPORTS", "reports"),
        help="where farm/<time>.json (which node built what) goes",
    )
    farm.add_argument(
        "--node-models",
        default=None,
        metavar="DIR",
        help="the models folder as the nodes see it (default: --models, absolute)",
    )
    farm.add_argument(
        "--node-root",
        default="~/.cache/engine-foundry/farm",
        metavar="DIR",
        help="node-local folder for builds and caches",
    )
    farm.add_argument(
        "--runner",
        choices=("auto", "bare", "docker"),
        default="auto",
        help="on the node: the bare pipeline (builder image) or the Docker launcher; auto picks",
    )
    farm.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="PROFILE=RESOURCE",
        help="send a CPU profile only to nodes with this custom Ray resource",
    )
    farm.add_argument("--retries", type=int, default=2, help="retries of a build whose node died (default 2)")
    farm.add_argument("--cpus-per-build", type=float, default=1.0, help="Ray CPUs one build takes (default 1)")
    farm.add_argument(
        "--node-logs", action="store_true", help="stream the nodes' build logs here (default: progress lines only)"
    )
    farm.add_argument("--force", action="store_true", help="build even when an up-to-date build is published")
    farm.add_argument(
        "--allow-insecure-cluster",
        action="store_true",
        help="join a cluster without token authentication (warned; never in production)",
    )
    farm.set_defaults(handler=_cmd_farm)


def parse_pools(items: list[str]) -> dict[str, str]:
    pools = {}
    for item in items:
        name, sep, resource = item.partition("=")
        if not sep or not name or not resource:
            raise UsageError(
                f"--pool {item!r}: expected PROFILE=RESOURCE",
                hint="e.g. --pool cpu-fp32=pool:cpu (a resource given to `ray start --resources`)",
            )
        pools[name] = resource
    return pools


def _cmd_farm(args: argparse.Namespace) -> int:
    from builder.farm.run import FarmOptions, raise_for_results, run_farm

    if args.retries < 0 or args.cpus_per_build <= 0:
        raise UsageError("--retries must be >= 0 and --cpus-per-build > 0", hint="e.g. --retries 2 --cpus-per-build 1")
    options = FarmOptions(
        profiles=tuple(args.profiles), profiles_dir=args.profiles_dir, artifacts=args.artifacts, models=args.models,
        reports=args.reports, address=args.address, node_root=args.node_root, node_models=args.node_models,
        runner=args.runner, pools=parse_pools(args.pool), force=args.force, retries=args.retries,
        cpus_per_build=args.cpus_per_build, allow_insecure=args.allow_insecure_cluster, node_logs=args.node_logs,
    )  # fmt: skip
    raise_for_results(run_farm(options, log=lambda line: print(line, flush=True)))
    return 0
