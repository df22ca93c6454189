"""Dependency-free helpers every side uses: bounded file reads, atomic writes, locks, hashes,
strict JSON, JSON-able dataclasses, signal handling, environment guards, private library folders.

Imports nothing of ``builder`` but ``builder.errors`` and itself.
"""
