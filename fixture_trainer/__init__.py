"""The fixture model: a synthetic labelled shapes dataset and a small YOLO trained on it (docs/dev/fixture-model.md).

A top-level package beside ``builder``, not inside it: a maintainer's tool, not part of what builds engines
(and a ``fixtures`` folder in ``builder`` read as pytest fixtures). ``pip install -e .`` installs both packages; the
image copies ``builder/`` only. ``builder.cli`` registers this tool's commands (``fixture-model``, ``fixture-data``)
where it is installed, importing it in that one place; it imports ``builder``.
"""
