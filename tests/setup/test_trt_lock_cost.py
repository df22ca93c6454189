"""Issue 17 §2 item 7: docs/docker.md states what the CUDA torch costs the TensorRT images, summed over the exact
wheels the locks pin; this keeps that table equal to ``requirements/trt.txt`` and ``trt10.txt``."""

from __future__ import annotations

import re

from tests.support import REPO

CUDA_ONLY = re.compile(r"^(?:nvidia-(?!ml-py$).+|cuda-.+|triton)$")  # unused by the CPU-only ONNX export


def _pins(lock: str) -> dict[str, str]:
    text = (REPO / "requirements" / lock).read_text()
    return dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", text, flags=re.M))


def _table() -> tuple[dict[str, tuple[str, int, str, int]], tuple[int, int], str]:
    text = (REPO / "docs" / "docker.md").read_text()
    section = text[text.index("### The CUDA torch in the TensorRT images") :]
    section = section[: section.index("\n### ")]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (\S+) \| (\d+) \| (\S+) \| (\d+) \|$", section, flags=re.M)
    totals = re.search(r"^\| \*\*total\*\* \| \| \*\*(\d+)\*\* \| \| \*\*(\d+)\*\* \|$", section, flags=re.M)
    assert rows and totals
    table = {name: (v1, int(b1), v2, int(b2)) for name, v1, b1, v2, b2 in rows}
    return table, (int(totals.group(1)), int(totals.group(2))), section


def test_the_cost_table_lists_exactly_the_locked_cuda_wheels_and_torch() -> None:
    table, _, _ = _table()
    for column, lock in ((0, "trt.txt"), (2, "trt10.txt")):
        pins = _pins(lock)
        wanted = {name for name in pins if CUDA_ONLY.match(name)} | {"torch"}
        assert set(table) == wanted, (lock, sorted(set(table) ^ wanted))
        assert {name: row[column] for name, row in table.items()} == {name: pins[name] for name in wanted}


def test_the_totals_and_the_stated_sizes_add_up() -> None:
    table, totals, section = _table()
    assert totals == (sum(r[1] for r in table.values()), sum(r[3] for r in table.values()))
    stated = [float(x) for x in re.findall(r"\*\*(\d+\.\d\d) GB\*\*", section)]
    assert stated == [round(totals[0] / 1e9, 2), round(totals[1] / 1e9, 2)]
    assert "R580" in section and "YOLO('model.engine')" in section
