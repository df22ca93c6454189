"""Ops: nightly rebuilds, drift reports, retention, bundles for operations, host compatibility.

Host-side and dependency-free at import time: nothing here imports a heavy
library at module level. ``builder.ops.commands.register`` adds the
``nightly``, ``bundle`` and ``prune`` subcommands to the CLI.
"""
