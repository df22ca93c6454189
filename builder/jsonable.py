"""Turn dataclass dumps into JSON-able data: enums by value, tuples as lists, keys as strings."""

from __future__ import annotations

import enum
from typing import Any


def jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
