"""Turn dataclasses and dumps of them into JSON-able data: enums by value, tuples as lists, keys as strings."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` as JSON-able data.

    Anything that is not a dataclass, mapping, sequence or JSON scalar becomes ``str``.
    """
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
