"""Issue 17 §2 items 4 and 5: the driver each TensorRT image needs, said alike in docs/tensorrt.md, the README,
OPS.md and ``builder/verify/compat.py`` (what ``verify`` checks); and no promise of CUDA forward compatibility, which
the images do not enable (docs/tensorrt.md, the decision)."""

from __future__ import annotations

import re

from builder.verify.compat import DRIVER_BRANCH_FOR_CUDA, HostFacts, HostRequirements, check_tensorrt_host
from tests.support import REPO


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_the_image_table_names_the_driver_compat_checks() -> None:
    text = (REPO / "docs" / "tensorrt.md").read_text()
    row = r'^\| `"(8\.6|10)"`[^|]*\| .*? \| [\d.]+ / ([\d.]+) / [\d.]+ .*?driver R(\d+)\+'
    rows = re.findall(row, text, flags=re.M)
    assert [row[0] for row in rows] == ["8.6", "10"], rows
    for _, cuda, driver in rows:
        assert int(driver) == DRIVER_BRANCH_FOR_CUDA[_major_minor(cuda)], (cuda, driver)
    assert DRIVER_BRANCH_FOR_CUDA["12.8"] == 570  # the trt10 image (CUDA 12.8): R570, not R560


def test_the_readme_names_the_same_drivers() -> None:
    text = (REPO / "README.md").read_text()
    trt = re.search(r"driver \*\*≥ R(\d+)\*\* \(the 23\.08 image is CUDA ([\d.]+)", text)
    trt10 = re.search(r"tensorrt:25\.01-py3`: CUDA ([\d.]+), Python [\d.]+, driver R(\d+)\+", text)
    assert trt and trt10
    assert int(trt.group(1)) == DRIVER_BRANCH_FOR_CUDA[_major_minor(trt.group(2))]
    assert int(trt10.group(2)) == DRIVER_BRANCH_FOR_CUDA[_major_minor(trt10.group(1))]


def test_no_doc_promises_forward_compatibility_and_verify_refuses_older_drivers() -> None:
    from builder.ops.opsdoc import _host_needs
    from builder.record.manifest_read import read_manifest
    from tests.ops.fakes import synthetic_manifest

    for path in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        text = path.read_text()
        assert not re.search(r"(?:through|use|using) (?:CUDA )?forward compatibility", text), path.name
    req = HostRequirements("tensorrt", "NVIDIA A10", "8.6", tensorrt="8.6.1", cuda="12.2", driver_branch=535)
    old = HostFacts([{"name": "NVIDIA A10", "compute_capability": "8.6", "driver_version": "525.85.12"}], "8.6.1")
    driver = {v.name: v for v in check_tensorrt_host(req, old)}["driver"]
    assert driver.status == "fail" and "forward compatibility is not enabled" in driver.message
    ops = "\n".join(_host_needs(req, read_manifest(synthetic_manifest("a10-fp16", backend="tensorrt"))))
    assert "R535 or newer" in ops and "older drivers are refused" in ops and "through CUDA forward" not in ops
