"""Geometry of a sampled frame: resize target, display rotation, centre and three-crop. Pure numpy.

A frame is converted once, by FFmpeg, straight to the resize target (``frame.reformat``); rotation and
cropping are then cheap numpy views. The short side is invariant under 90° rotations, so the resize
target can be computed from the stored (coded) size before the rotation is applied.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def normalize_rotation(counter_clockwise_degrees: float) -> int:
    """PyAV's ``frame.rotation`` (counter-clockwise, e.g. -90) → the clockwise rotation to apply (0..270).

    FFmpeg's display matrix stores how the picture must be rotated to display it; PyAV returns that angle
    counter-clockwise. ``video_90.mov`` (a portrait phone clip) reads -90: rotate 90° clockwise.
    """
    quarter_turns = round(counter_clockwise_degrees / 90.0)
    return (-quarter_turns * 90) % 360


def display_size(
    coded_width: int, coded_height: int, rotation: int, sample_aspect: float = 1.0
) -> tuple[int, int]:
    """(width, height) as displayed: sample aspect ratio applied to the width, then the rotation."""
    width = coded_width
    if sample_aspect > 0 and abs(sample_aspect - 1.0) > 1e-6:
        width = max(1, round(coded_width * sample_aspect))
    if rotation in (90, 270):
        return coded_height, width
    return width, coded_height


def aspect_ratio(width: int, height: int) -> float:
    """Long side over short side (1.0 for square; infinite for a zero side)."""
    short = min(width, height)
    return max(width, height) / short if short > 0 else float("inf")


def resize_target(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side``, aspect ratio kept (rounded)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    if width <= height:
        return short_side, max(short_side, round(height * short_side / width))
    return max(short_side, round(width * short_side / height)), short_side


def rotate(image: npt.NDArray[np.uint8], rotation: int) -> npt.NDArray[np.uint8]:
    """Rotate an ``[H, W, C]`` image clockwise by ``rotation`` degrees (a view, no copy)."""
    if rotation % 90 != 0:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    # np.rot90 turns counter-clockwise for positive k.
    return np.rot90(image, k=-(rotation // 90) % 4)


def crop_offsets(height: int, width: int, crop_size: int, crops: int) -> tuple[tuple[int, int], ...]:
    """Top-left corners (y, x) of the crops: 1 = centre; 3 = start, centre, end along the long side."""
    if crop_size > height or crop_size > width:
        raise ValueError(f"crop {crop_size} larger than frame {width}x{height}")
    cy, cx = (height - crop_size) // 2, (width - crop_size) // 2
    if crops == 1:
        return ((cy, cx),)
    if crops != 3:
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    if width >= height:
        return ((cy, 0), (cy, cx), (cy, width - crop_size))
    return ((0, cx), (cy, cx), (height - crop_size, cx))


def crop_into(
    out: npt.NDArray[np.uint8], t: int, image: npt.NDArray[np.uint8], crop_size: int, crops: int
) -> None:
    """Write the crops of ``image`` (``[H, W, 3]``) as frame ``t`` of ``out``.

    ``out`` is ``[T, S, S, 3]`` when ``crops == 1`` and ``[crops, T, S, S, 3]`` otherwise.
    """
    offsets = crop_offsets(image.shape[0], image.shape[1], crop_size, crops)
    if crops == 1:
        y, x = offsets[0]
        out[t] = image[y : y + crop_size, x : x + crop_size]
        return
    for c, (y, x) in enumerate(offsets):
        out[c, t] = image[y : y + crop_size, x : x + crop_size]
