"""Command-line options shared by the CLI and the host and ops subcommands (which ``builder.cli`` registers)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def env_path(name: str, default: str) -> Path:
    """The path in environment variable ``name``, else ``default``."""
    return Path(os.environ.get(name, default))


def add_common_paths(parser: argparse.ArgumentParser) -> None:
    """--profiles-dir / --artifacts / --models / --cache-dir, shared by several commands."""
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"),
        help="folder of profile YAML files (default: ./profiles)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_ARTIFACTS", "artifacts"),
        help="artifacts folder (default: ./artifacts)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_MODELS", "models"),
        help="folder of checkpoints and calibration data (default: ./models)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_CACHE", "cache"),
        help="persistent timing/calibration cache folder (default: ./cache)",
    )
