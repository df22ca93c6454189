"""A classify checkpoint's pickled torchvision transforms, read without torchvision and left out of the model.

ultralytics' ClassificationTrainer attaches its eval transforms (``Compose(Resize, CenterCrop, ToTensor,
Normalize)``, torchvision objects; ``ultralytics/models/yolo/classify/train.py`` ``get_dataloader``) to the model it
saves, so every classify ``.pt`` a user trains pickles torchvision classes. Unpickling them imports torchvision, and
ultralytics' restricted loader (``ULTRALYTICS_SAFE_LOAD``, ``nn/tasks.py`` ``_SafeLoad.loading``) imports it too
before it reads such a file; beside the CPU torch here torchvision does not import (``operator torchvision::nms does
not exist``; requirements/cpu.in), so export failed for any user's classify checkpoint.

Export never uses the transforms (the ONNX graph starts at the tensor; preprocessing is ours,
``builder/yolo/tasks/classify.py``, and ultralytics' predictor falls back to ``classify_transforms(imgsz)``, the same
four steps, when the model has none). So :func:`without_torchvision_transforms` writes a copy of the checkpoint
without them, into a scratch folder, never into the user's file:

1. the checkpoint's pickle is read as torch saved it (``data.pkl`` in its zip) and each reference to a
   ``torchvision.*`` class is renamed to an inert stand-in of this module (no byte of tensor data changes);
2. the renamed copy is read by ultralytics' own restricted loader (``torch_safe_load(..., safe_only=True)``: torch's
   ``weights_only`` unpickler with ultralytics' allow-list), with only the stand-ins added, so nothing in a
   checkpoint runs code: this is as safe as the load that export does anyway;
3. the transforms are removed from ``model`` and ``ema`` and the checkpoint is saved again with ``torch.save``.
"""

from __future__ import annotations

import enum
import pickletools
import zipfile
from pathlib import Path
from typing import Any

TORCHVISION = "torchvision."
STAND_IN_MODULE = __name__


class InertTransform:
    """Stands in for a pickled torchvision transform class: keeps its state, does nothing."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})

    def described(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k in ("size", "mean", "std", "max_size", "antialias")}
        return f"{type(self).__name__}(" + ", ".join(f"{k}={_plain(v)!r}" for k, v in sorted(fields.items())) + ")"


class InterpolationMode(enum.Enum):
    """torchvision.transforms.InterpolationMode's members (torchvision 0.2x), pickled as an enum member."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def torchvision_globals(checkpoint: Path) -> list[str]:
    """The ``torchvision.*`` classes the checkpoint's pickle names (torch reads the pickle's opcodes, runs nothing)."""
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(checkpoint))
    except (ValueError, RuntimeError):  # not a torch zip archive: the loader reports that, nothing to do here
        return []
    return sorted(n for n in names if n.startswith(TORCHVISION))


def without_torchvision_transforms(source: Path, destination: Path) -> list[str] | None:
    """Write ``source`` without its torchvision transforms to ``destination``; ``None`` when it has none (then
    ``destination`` is not written). Returns the dropped transforms, described (``Resize(size=64)``, ...).

    Raises whatever ultralytics' restricted loader raises for a file it refuses (callers turn that into an error).
    """
    names = torchvision_globals(source)
    if not names:
        return None
    import torch
    from ultralytics.nn.tasks import torch_safe_load

    renamed = destination.with_name(destination.name + ".renamed.pt")
    stand_ins = _rename_torchvision(source, renamed)
    try:
        with torch.serialization.safe_globals(list(stand_ins.values())):
            checkpoint, _ = torch_safe_load(str(renamed), safe_only=True)
    finally:
        renamed.unlink(missing_ok=True)
    dropped: list[str] = []
    for key in ("model", "ema"):
        model = checkpoint.get(key) if isinstance(checkpoint, dict) else None
        transforms = getattr(model, "transforms", None)
        if transforms is not None:
            steps = getattr(transforms, "transforms", [transforms])
            dropped += [s.described() if isinstance(s, InertTransform) else type(s).__name__ for s in steps]
            delattr(model, "transforms")
    left = _stand_ins_in(checkpoint)
    if left:
        raise ValueError(f"torchvision objects outside model.transforms: {', '.join(sorted(left))}")
    torch.save(checkpoint, destination)
    return dropped


def _rename_torchvision(source: Path, destination: Path) -> dict[str, Any]:
    """Copy the checkpoint's zip with every ``torchvision.*`` global of its pickle renamed to a stand-in here.

    Returns ``{stand-in qualified name: stand-in class}`` for the loader's allow-list.
    """
    stand_ins: dict[str, Any] = {}
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as copy:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename.endswith("/data.pkl"):
                data = _renamed_pickle(data, stand_ins)
            copy.writestr(info, data)
    return stand_ins


def _renamed_pickle(data: bytes, stand_ins: dict[str, Any]) -> bytes:
    """The pickle with each ``GLOBAL 'torchvision.x.y Name'`` opcode naming a stand-in of this module instead.

    torch.save writes pickle protocol 2 (``torch.serialization.DEFAULT_PROTOCOL``), whose class references are
    ``GLOBAL`` opcodes; a ``STACK_GLOBAL`` one (protocol 4) naming torchvision is refused rather than guessed.
    """
    out, start = bytearray(), 0
    for opcode, arg, pos in pickletools.genops(data):
        if opcode.name == "STACK_GLOBAL":
            continue
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and str(arg).startswith(TORCHVISION):
            raise ValueError("a protocol-4 reference to torchvision (STACK_GLOBAL), which torch.save does not write")
        if opcode.name != "GLOBAL" or not str(arg).startswith(TORCHVISION):
            continue
        module, name = str(arg).split(" ", 1)
        stand_in = _stand_in(name)
        stand_ins[f"{STAND_IN_MODULE}.{stand_in.__qualname__}"] = stand_in
        assert pos is not None
        end = data.index(b"\n", data.index(b"\n", pos + 1) + 1) + 1  # GLOBAL: 'c' module '\n' name '\n'
        out += data[start:pos] + b"c" + f"{STAND_IN_MODULE}\n{stand_in.__qualname__}\n".encode()
        start = end
    return bytes(out + data[start:])


_STAND_INS: dict[str, type] = {"InterpolationMode": InterpolationMode}


def _stand_in(name: str) -> type:
    """The stand-in class for torchvision's ``name`` (one per name, defined in this module, so the pickle's renamed
    reference resolves to it)."""
    if name not in _STAND_INS:
        cls = type(name, (InertTransform,), {"__module__": STAND_IN_MODULE, "__qualname__": f"Inert{name}"})
        _STAND_INS[name] = cls
        globals()[cls.__qualname__] = cls
    return _STAND_INS[name]


def _stand_ins_in(value: Any, seen: set[int] | None = None) -> set[str]:
    """Names of stand-ins still in the loaded checkpoint outside the models' transforms (a plain-data walk)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return set()
    seen.add(id(value))
    if isinstance(value, InertTransform | InterpolationMode):
        return {type(value).__name__}
    if isinstance(value, dict):
        return set().union(*(_stand_ins_in(v, seen) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_stand_ins_in(v, seen) for v in value)) if value else set()
    return set()


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value.value if isinstance(value, enum.Enum) else value


WHY = (
    "ultralytics pickles its classify eval transforms (torchvision objects) into the checkpoint; they play no part in "
    "the exported graph, so the export read a copy without them and needs no torchvision (the user's file is unchanged)"
)
