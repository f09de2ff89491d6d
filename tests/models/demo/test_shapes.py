"""Shapes: inside their declared extent, a real area, and the rotational symmetry `SYMMETRY` says."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from models.demo.motion import make_test_set
from models.demo.shapes import EXTENT, ISSUE9_SHAPES, SHAPES, SYMMETRY, shape_sdf

GRID = np.linspace(-2.0, 2.0, 321)
Y, X = np.meshgrid(GRID, GRID, indexing="ij")
CELL = (GRID[1] - GRID[0]) ** 2


def _inside(shape: str, turn: float = 0.0) -> np.ndarray:
    c, s = np.cos(turn), np.sin(turn)
    return shape_sdf(shape, c * X + s * Y, -s * X + c * Y) < 0


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_lies_within_its_extent_and_has_area(shape: str) -> None:
    inside = _inside(shape)
    assert np.hypot(X, Y)[inside].max() <= EXTENT[shape]
    assert 1.0 < inside.sum() * CELL < 3.3  # comparable sizes: a unit disc has area pi


@pytest.mark.parametrize("shape", SHAPES)
def test_rotational_symmetry_order(shape: str) -> None:
    """A turn of 360°/k maps the shape onto itself; half of that (or any turn, for k = 1) does not."""
    inside = _inside(shape)
    k = SYMMETRY[shape]
    area = inside.sum()
    if k == 0:
        assert (inside != _inside(shape, 0.7)).sum() < 0.01 * area
        return
    assert (inside != _inside(shape, 2 * np.pi / k)).sum() < 0.03 * area
    for turn in (np.pi / k, 2 * np.pi / (2 * k + 1)):
        assert (inside != _inside(shape, turn)).sum() > 0.08 * area, turn


def test_distance_is_metric_near_the_edge() -> None:
    """Outlines and anti-aliasing use the distance in pixels: |grad sdf| ~ 1 on the edge of every shape."""
    for shape in SHAPES:
        d = shape_sdf(shape, X, Y)
        gy, gx = np.gradient(d, GRID, GRID)
        edge = np.abs(d) < 0.03
        slope = np.hypot(gx, gy)[edge]
        assert 0.6 < np.median(slope) < 1.4, shape


def test_issue9_test_set_is_unchanged() -> None:
    """The shipped cards' `results.test` were measured on this set: moving the shapes must not change it."""
    assert set(ISSUE9_SHAPES) <= set(SHAPES)
    clips, labels = make_test_set(22, 1234, size=32)
    digest = hashlib.sha256(clips.tobytes() + labels.tobytes()).hexdigest()[:16]
    assert digest == ISSUE9_DIGEST


ISSUE9_DIGEST = "1b40e55cb80520d0"  # sha256 of make_test_set(22, 1234, size=32) at 3f87692
