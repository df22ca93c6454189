"""builder/yolo/checkpoint_transforms.py on hand-written pickles: torchvision class references become inert stand-ins
(protocol 2, what torch.save writes), a protocol-4 reference is refused, and stand-ins left outside
``model.transforms`` are found."""

from __future__ import annotations

import pickle

import pytest

from builder.yolo import checkpoint_transforms as ct

# PROTO 2; GLOBAL module\nname\n; EMPTY_TUPLE; NEWOBJ; EMPTY_DICT 'size' 64 SETITEM; BUILD; STOP
COMPOSE = b"\x80\x02ctorchvision.transforms.transforms\nCompose\nq\x00)\x81q\x01}q\x02X\x04\x00\x00\x00sizeq\x03K@sb."
MODE = (  # the enum member by value: InterpolationMode("bilinear")
    b"\x80\x02ctorchvision.transforms.functional\nInterpolationMode\nq\x00X\x08\x00\x00\x00bilinearq\x01\x85q\x02Rq\x03."
)


@pytest.mark.parametrize(
    ("data", "kind", "check"),
    [
        (COMPOSE, "InertCompose", lambda obj: obj.size == 64),
        (MODE, "InterpolationMode", lambda obj: obj is ct.InterpolationMode.BILINEAR),
    ],
)
def test_torchvision_references_become_inert_stand_ins(data: bytes, kind: str, check: object) -> None:
    stand_ins: dict[str, object] = {}
    renamed = ct._renamed_pickle(data, stand_ins)
    assert b"torchvision" not in renamed and list(stand_ins) == [f"builder.yolo.checkpoint_transforms.{kind}"]
    loaded = pickle.loads(renamed)  # noqa: S301 - our own hand-written bytes
    assert type(loaded).__qualname__ == kind and check(loaded)  # type: ignore[operator]


def test_a_protocol_4_reference_to_torchvision_is_refused() -> None:
    data = pickle.dumps(("torchvision.transforms.transforms", "Compose"), protocol=4)
    with pytest.raises(ValueError, match="STACK_GLOBAL"):
        ct._renamed_pickle(data, {})


def test_stand_ins_outside_the_transforms_are_found() -> None:
    inert = pickle.loads(ct._renamed_pickle(COMPOSE, {}))  # noqa: S301
    assert ct._stand_ins_in({"model": None, "extra": [1, {"t": inert}]}) == {"Compose"}
    assert ct._stand_ins_in({"model": None, "mode": ct.InterpolationMode.NEAREST}) == {"InterpolationMode"}
    assert ct._stand_ins_in({"epoch": 3, "names": ["a"]}) == set()
