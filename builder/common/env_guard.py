"""Keep chosen environment variables as they were around code that changes them in-process.

Used around the CPU export: ultralytics forks of the 8.3 era set ``CUDA_VISIBLE_DEVICES=""`` (or "-1") in
``os.environ`` when asked for ``device="cpu"``, and a TensorRT build that follows in the same process would then
see no GPU. CUDA reads the variable when it initialises, which the CPU export does not do, so restoring it
afterwards is enough.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, MutableMapping

CUDA_VARIABLES = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


@contextlib.contextmanager
def preserved_environment(
    names: tuple[str, ...] = CUDA_VARIABLES, environ: MutableMapping[str, str] | None = None
) -> Iterator[dict[str, str | None]]:
    """Restore ``names`` in ``environ`` (default ``os.environ``) on exit, also on an exception.

    Yields a dict that, after the block, maps each variable the block changed to the value it had set
    (None: it removed it), so callers can say what was undone.
    """
    env = os.environ if environ is None else environ
    before = {name: env.get(name) for name in names}
    changed: dict[str, str | None] = {}
    try:
        yield changed
    finally:
        for name, value in before.items():
            now = env.get(name)
            if now == value:
                continue
            changed[name] = now
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
