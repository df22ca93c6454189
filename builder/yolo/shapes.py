"""The model input's shape, in one place: NCHW, 3 colour channels, the profile's image size."""

from __future__ import annotations

from builder.profile import Profile

CHANNELS = 3  # RGB


def input_shape(profile: Profile, batch: int) -> tuple[int, int, int, int]:
    """``(batch, 3, height, width)`` at the profile's ``imgsz``; ``batch`` may be -1 for a dynamic batch."""
    height, width = profile.imgsz
    return (batch, CHANNELS, height, width)
