"""CLI subcommands ``fixture-model`` and ``fixture-data`` (registered by builder/cli.py; nothing heavy at import).

``make fixture-model`` runs ``python3 -m builder fixture-model``: regenerate the shapes dataset, retrain the fixture
model and say whether it matches the pin (docs/dev/fixture-model.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from builder.errors import UsageError
from fixture_trainer import pin
from fixture_trainer.shapes import TASKS, ShapesSpec, generate
from fixture_trainer.train import TrainSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the fixture subcommands to the CLI's subparsers."""
    data = subparsers.add_parser("fixture-data", help="write the fixture's shapes dataset (train, val, data.yaml)")
    data.add_argument("--out", type=Path, default=Path("build/fixture-model/shapes"))
    data.add_argument("--split", choices=("train", "val"), action="append", help="only these splits (repeatable)")
    data.add_argument(
        "--train", type=int, default=ShapesSpec.train, help="train images: the first N of the full set (default: all)"
    )
    data.add_argument(
        "--val", type=int, default=ShapesSpec.val, help="val images: the first N of the full set (default: all)"
    )
    data.add_argument("--task", choices=TASKS, default="detect", help="whose labels to write (default: detect)")
    data.set_defaults(handler=_cmd_data)
    model = subparsers.add_parser(
        "fixture-model", help="regenerate the shapes dataset, retrain the fixture model, say whether it matches the pin"
    )
    model.add_argument(
        "--models", type=Path, default=Path("models"), help="folder holding fixtures/ (default: ./models)"
    )
    model.add_argument("--work", type=Path, default=Path("build/fixture-model"), help="scratch folder (dataset, runs)")
    model.add_argument("--device", default=TrainSpec.device, help="cpu (default) or a CUDA index such as 0")
    model.add_argument(
        "--task", choices=TASKS, default="detect", help="whose fixture: detect (default), segment, pose, obb, classify"
    )
    model.add_argument(
        "--epochs", type=int, default=None, help="default: detect 100; other tasks: the epochs their record names"
    )
    model.add_argument("--batch", type=int, default=TrainSpec.batch)
    model.add_argument("--workers", type=int, default=TrainSpec.workers)
    model.add_argument("--data-only", action="store_true", help="regenerate and check the dataset only (no training)")
    model.add_argument(
        "--update",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the new checkpoint and record into DIR (e.g. models/fixtures) instead of comparing",
    )
    model.set_defaults(handler=_cmd_model)


def _cmd_data(args: argparse.Namespace) -> int:
    if not 1 <= args.train <= ShapesSpec.train:
        raise UsageError(
            f"fixture-data --train {args.train} is out of range",
            hint=f"pass 1 to {ShapesSpec.train} (the fixture's train set)",
        )
    if not 1 <= args.val <= ShapesSpec.val:
        raise UsageError(
            f"fixture-data --val {args.val} is out of range", hint=f"pass 1 to {ShapesSpec.val} (the fixture's val set)"
        )
    spec = replace(ShapesSpec(), train=args.train, val=args.val)
    info = generate(args.out, spec, tuple(args.split) if args.split else ("train", "val"), task=args.task)
    print(f"wrote {info.data_yaml}: {info.images} images, {info.objects} objects, content digest {info.digest}")
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    if args.task != "detect":
        return _cmd_task_model(args)
    if args.epochs is None:
        args.epochs = TrainSpec.epochs
    shapes = ShapesSpec()
    record = pin.load_record(args.models / pin.RECORD) if args.update is None else None
    if not args.data_only:
        from fixture_trainer.train import require_torchvision

        require_torchvision()  # before minutes of dataset generation
    info = generate(args.work / "shapes", shapes)
    print(f"dataset: {info.images} images, {info.objects} objects in {info.root}")
    new = None
    if not args.data_only:
        from fixture_trainer.train import make_record, publish, train

        spec = replace(TrainSpec(), device=str(args.device), epochs=args.epochs, batch=args.batch, workers=args.workers)
        best, seconds = train(info, args.work / "runs", spec)
        command = shlex.join(["python3", "-m", "builder", *sys.argv[1:]])
        new = make_record(best, info, shapes, spec, seconds, command, pin.CHECKPOINT.name)
        if args.update is not None:
            publish(best, args.update / pin.CHECKPOINT.name)
            (args.update / pin.RECORD.name).write_text(json.dumps(new, indent=2) + "\n")
            print(f"wrote {args.update / pin.CHECKPOINT.name} and its record; val: {json.dumps(new['metrics'])}")
            return 0
        (args.work / pin.RECORD.name).write_text(json.dumps(new, indent=2) + "\n")
    assert record is not None
    check = pin.compare(record, info.digest, new)
    print("\n".join(pin.report_lines(check, record, info.digest, new)))
    if not check.matches:
        raise pin.FixtureMismatch(
            "the regenerated fixture does not match the pinned one (see the lines above)",
            hint="a changed generator or ultralytics changes the numbers: "
            "if intended, rerun with --update models/fixtures "
            "and update the profile's model.sha256 (docs/dev/fixture-model.md)",
        )
    return 0


def _cmd_task_model(args: argparse.Namespace) -> int:
    """``fixture-model --task segment|pose|obb|classify``: the same steps as detect's, with the task's labels, model
    (``TASK_TRAIN``), recorded epoch count and metric (``pin.TASK_FIXTURES``), scored on the shipped split."""
    from fixture_trainer.train import TASK_TRAIN

    task, shapes = args.task, ShapesSpec()
    record = pin.load_record(args.models / pin.record_path(task))
    if not args.data_only:
        from fixture_trainer.train import require_torchvision

        require_torchvision()
    info = generate(args.work / f"shapes-{task}", shapes, task=task)
    print(f"dataset ({task}): {info.images} images, {info.objects} objects in {info.root}")
    new = None
    if not args.data_only:
        from fixture_trainer.train import make_task_record, train

        epochs = args.epochs if args.epochs is not None else int(record["training"]["epochs"])
        spec = replace(TASK_TRAIN[task], device=str(args.device), epochs=epochs, batch=args.batch, workers=args.workers)
        best, seconds = train(info, args.work / f"runs-{task}", spec)
        command = shlex.join(["python3", "-m", "builder", *sys.argv[1:]])
        data = args.models / pin.shipped_data(task)
        new, checkpoint = make_task_record(best, info, shapes, spec, seconds, command, data)
        if args.update is not None:
            target = args.update / pin.checkpoint_path(task).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(checkpoint.read_bytes())
            (args.update / pin.record_path(task).name).write_text(json.dumps(new, indent=2) + "\n")
            print(f"wrote {target} and its record; val: {json.dumps(new['metrics'])}")
            return 0
        (args.work / pin.record_path(task).name).write_text(json.dumps(new, indent=2) + "\n")
    check = pin.compare(record, info.digest, new, pin.TASK_FIXTURES[task][1])
    print("\n".join(pin.report_lines(check, record, info.digest, new)))
    if not check.matches:
        raise pin.FixtureMismatch(
            f"the regenerated {task} fixture does not match the pinned one (see the lines above)",
            hint="a changed generator or ultralytics changes the numbers: if intended, rerun with --update "
            "models/fixtures and update the profile's model.sha256 (docs/dev/fixture-model.md)",
        )
    return 0
