"""Does a retrained fixture model match the shipped one? What "matches" means, in one place.

Training is not bit-reproducible (GPU kernels, thread counts) and ultralytics stores the date in the checkpoint, so
the sha256 of a retrained checkpoint always differs from the pin; it is reported, never required. A retrain MATCHES
when all of these hold:

1. the regenerated dataset's content digest (pixels and labels) equals the recorded one, exactly;
2. its val mAP50-95, measured on CPU by fixture_trainer/evaluate.py, is within ``MAP_TOLERANCE`` of the recorded
   value (also measured on CPU by evaluate.py);
3. and at least ``MIN_MAP50_95``: the fixture is only useful if it is genuinely good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import BuilderError, ExitCode

CHECKPOINT = Path("fixtures/shapes-yolo11n.pt")  # relative to the models folder
RECORD = Path("fixtures/shapes-yolo11n.json")
# task -> (file stem under the models folder, the key of the record's metrics.evaluate_cpu compared)
TASK_FIXTURES = {
    "detect": ("fixtures/shapes-yolo11n", "map50_95"),
    "segment": ("fixtures/shapes-yolo11n-seg", "map50_95"),  # mask mAP50-95
    "pose": ("fixtures/shapes-yolo11n-pose", "map50_95"),  # pose (OKS) mAP50-95
    "obb": ("fixtures/shapes-yolo11n-obb", "map50_95"),
    "classify": ("fixtures/shapes-yolo26n-cls", "top1"),
}


def checkpoint_path(task: str) -> Path:
    """The task's shipped checkpoint, relative to the models folder."""
    return Path(TASK_FIXTURES[task][0] + ".pt")


def record_path(task: str) -> Path:
    """The task's record, relative to the models folder."""
    return Path(TASK_FIXTURES[task][0] + ".json")


def shipped_data(task: str) -> Path:
    """The val split the task's record scores (relative to the models folder): detect's holds the whole val split,
    the other tasks' its first 64 images."""
    return Path("fixtures/shapes/data.yaml" if task == "detect" else f"fixtures/shapes-{task}/data.yaml")


MAP_TOLERANCE = 0.03
MIN_MAP50_95 = 0.6


class FixtureMismatch(BuilderError):
    exit_code = ExitCode.REGRESSION


@dataclass(frozen=True)
class PinCheck:
    dataset_same: bool
    sha256_same: bool
    recorded_map: float
    new_map: float | None  # None when only the dataset was checked

    @property
    def map_ok(self) -> bool:
        return (
            self.new_map is not None
            and abs(self.new_map - self.recorded_map) <= MAP_TOLERANCE
            and self.new_map >= MIN_MAP50_95
        )

    @property
    def matches(self) -> bool:
        return self.dataset_same and (self.new_map is None or self.map_ok)


def load_record(path: Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BuilderError(
            f"fixture record {path} cannot be read: {err}", hint="restore models/fixtures/ from git"
        ) from None
    return record


def compare(record: dict[str, Any], digest: str, new: dict[str, Any] | None, key: str = "map50_95") -> PinCheck:
    """Compare a regenerated dataset digest and (optionally) a new record against the shipped record; ``key``: the
    compared metric of ``metrics.evaluate_cpu`` (``TASK_FIXTURES``)."""
    return PinCheck(
        dataset_same=digest == record["dataset"]["digest"],
        sha256_same=new is not None and new["sha256"] == record["sha256"],
        recorded_map=float(record["metrics"]["evaluate_cpu"][key]),
        new_map=None if new is None else float(new["metrics"]["evaluate_cpu"][key]),
    )


def report_lines(check: PinCheck, record: dict[str, Any], digest: str, new: dict[str, Any] | None) -> list[str]:
    """Human-readable verdict, one line per criterion, the last one ``RESULT MATCH|MISMATCH``."""
    verdict = "MATCH" if check.dataset_same else "MISMATCH"
    lines = [f"dataset   {verdict} content digest {digest[:16]} (recorded {record['dataset']['digest'][:16]})"]
    if new is not None and check.new_map is not None:
        same = "IDENTICAL" if check.sha256_same else "DIFFERENT (expected: dates and training are not bit-reproducible)"
        lines.append(f"sha256    {same}: new {new['sha256'][:16]}, pin {record['sha256'][:16]}")
        lines.append(
            f"mAP50-95  {'MATCH' if check.map_ok else 'MISMATCH'} {check.new_map:.4f} "
            f"vs recorded {check.recorded_map:.4f} "
            f"(tolerance +-{MAP_TOLERANCE}, floor {MIN_MAP50_95})"
        )
    else:
        lines.append("model     not retrained (dataset only)")
    lines.append(f"RESULT    {'MATCH' if check.matches else 'MISMATCH'}")
    return lines
