"""JSON Schema of one profile file, generated from the field table (``profiles/profile.schema.json``).

The schema checks what one file can be checked for alone (keys, types, ranges,
patterns); rules that need the merged profile (``extends``), such as "``int8``
is required with ``precision: int8``", stay in the loader. Regenerate the
shipped file with ``python -m builder.profile.schema profiles/profile.schema.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from builder.profile.fields import PROFILE
from builder.profile.sections import Section

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "profile.schema.json"


def profile_json_schema(table: Section = PROFILE) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an Engine Foundry profile file (of ``table``, the field table)."""
    body = table.schema()
    body["required"] = ["name"]
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Engine Foundry build profile",
        "description": "One YAML profile file; see docs/profiles.md. Generated from builder/profile/fields.py.",
        **body,
    }


def profile_json_schema_text() -> str:
    """The schema as the shipped file spells it (2-space indent, trailing newline)."""
    return json.dumps(profile_json_schema(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema to the path given (default: stdout)."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        Path(args[0]).write_text(profile_json_schema_text(), encoding="utf-8")
    else:
        sys.stdout.write(profile_json_schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
