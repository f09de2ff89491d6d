"""Frame geometry: rotation convention, resize targets, centre and three-crop."""

from __future__ import annotations

import numpy as np
import pytest

from service.decoding.transform import (
    crop_into,
    crop_offsets,
    display_size,
    normalize_rotation,
    resize_target,
    rotate,
)


@pytest.mark.parametrize(
    ("pyav", "clockwise"), [(0, 0), (-90, 90), (-180, 180), (180, 180), (90, 270), (-270, 270)]
)
def test_normalize_rotation(pyav: int, clockwise: int) -> None:
    assert normalize_rotation(pyav) == clockwise


def test_rotate_is_clockwise() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)  # [[0 1 2], [3 4 5]]
    turned = rotate(image, 90)
    assert turned.shape == (3, 2, 1)
    assert turned[..., 0].tolist() == [[3, 0], [4, 1], [5, 2]]  # top-left of the result was bottom-left
    assert rotate(image, 180)[..., 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert rotate(image, 270)[..., 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotate(image, 0) is image or np.array_equal(rotate(image, 0), image)


def test_sizes() -> None:
    assert resize_target(1280, 720, 224) == (398, 224)
    assert resize_target(320, 568, 224) == (224, 398)
    assert resize_target(200, 200, 224) == (224, 224)
    assert display_size(568, 320, 90) == (320, 568)
    assert display_size(720, 576, 0, sample_aspect=16 / 15) == (768, 576)


def test_three_crops_run_along_the_long_side() -> None:
    assert crop_offsets(224, 398, 224, 3) == ((0, 0), (0, 87), (0, 174))
    assert crop_offsets(398, 224, 224, 3) == ((0, 0), (87, 0), (174, 0))
    assert crop_offsets(224, 398, 224, 1) == ((0, 87),)
    image = np.arange(4 * 8, dtype=np.uint8).reshape(4, 8, 1).repeat(3, axis=2)
    out = np.zeros((3, 1, 4, 4, 3), dtype=np.uint8)
    crop_into(out, 0, image, 4, 3)
    assert out[0, 0, 0, :, 0].tolist() == [0, 1, 2, 3]
    assert out[2, 0, 0, :, 0].tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError):
        crop_offsets(100, 100, 101, 1)
