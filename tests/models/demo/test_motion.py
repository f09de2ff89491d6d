"""The `motion` generator: deterministic, each class does what its name says, pairs are exact reversals."""

from __future__ import annotations

import numpy as np
import pytest

from models.demo.motion import (
    LABELS,
    NUM_CLASSES,
    PARTNER,
    generate_clip,
    make_batch,
    make_test_set,
    render_clip,
)

SEEDS = range(12)


def test_labels_in_issue_order() -> None:
    assert LABELS == (
        "static",
        "moving_left",
        "moving_right",
        "moving_up",
        "moving_down",
        "rotating_clockwise",
        "rotating_counterclockwise",
        "growing",
        "shrinking",
        "fading_in",
        "fading_out",
    )
    assert all(PARTNER[PARTNER[i]] == i for i in range(NUM_CLASSES))


def test_deterministic_with_seed() -> None:
    a = generate_clip("moving_up", 5, num_frames=8, height=40, width=56)
    b = generate_clip("moving_up", 5, num_frames=8, height=40, width=56)
    c = generate_clip("moving_up", 6, num_frames=8, height=40, width=56)
    assert a.dtype == np.uint8 and a.shape == (8, 40, 56, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    x1, y1 = make_test_set(22, seed=3)
    x2, y2 = make_test_set(22, seed=3)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert sorted(np.bincount(y1).tolist()) == [2] * NUM_CLASSES
    xb, yb = make_batch(1, 6)
    assert xb.shape == (6, 8, 32, 32, 3) and yb.shape == (6,)


@pytest.mark.parametrize("pair", [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)])
def test_pairs_are_exact_reversals(pair: tuple[int, int]) -> None:
    for seed in range(3):
        a = generate_clip(pair[0], seed, num_frames=8, height=48, width=64)
        b = generate_clip(pair[1], seed, num_frames=8, height=48, width=64)
        assert np.array_equal(a, b[::-1])


def _mask_centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : mask.shape[1], 0 : mask.shape[2]]
    total = mask.sum((1, 2))
    return np.stack([(mask * xs).sum((1, 2)) / total, (mask * ys).sum((1, 2)) / total], axis=-1)


@pytest.mark.parametrize(
    ("label", "axis", "sign"),
    [("moving_left", 0, -1), ("moving_right", 0, 1), ("moving_up", 1, -1), ("moving_down", 1, 1)],
)
def test_moving_direction_on_screen(label: str, axis: int, sign: int) -> None:
    for seed in SEEDS:
        clip = render_clip(label, seed, num_frames=8, height=48, width=64)
        c = _mask_centroid(clip.masks)
        delta = c[-1] - c[0]
        assert sign * delta[axis] > 0.2 * 48, (seed, delta)  # a real move, along the axis
        assert abs(delta[axis]) > 2 * abs(delta[1 - axis])
        # the object stays in the centre square (x from 8 to 56 in a 64x48 frame)
        assert c[:, 0].min() > 8 and c[:, 0].max() < 56


def test_static_stays_put() -> None:
    for seed in SEEDS:
        clip = render_clip("static", seed, num_frames=8, height=48, width=48)
        c = _mask_centroid(clip.masks)
        assert np.abs(c - c.mean(0)).max() < 2.0
        area = clip.masks.sum((1, 2))
        assert area.max() / area.min() < 1.1


def test_growing_and_shrinking_change_size() -> None:
    for seed in SEEDS:
        grow = render_clip("growing", seed, num_frames=8, height=48, width=48).masks.sum((1, 2))
        shrink = render_clip("shrinking", seed, num_frames=8, height=48, width=48).masks.sum((1, 2))
        assert np.all(np.diff(grow) > 0) and grow[-1] > 3 * grow[0]
        assert np.all(np.diff(shrink) < 0)


def test_fading_changes_object_brightness_against_background() -> None:
    for seed in SEEDS:
        clip = render_clip("fading_in", seed, num_frames=8, height=48, width=48, difficulty=0.0)
        inside = clip.masks > 0.99
        # contrast between the object's pixels and the same pixels in... the first frame (object ~invisible)
        diffs = [
            np.abs(clip.frames[t].astype(float) - clip.frames[0].astype(float))[inside[t]].mean()
            for t in range(8)
        ]
        assert np.all(np.diff(diffs[1:]) > 0) and diffs[-1] > 40, diffs


def _signed_turn(angles_deg: np.ndarray) -> float:
    steps = (np.diff(angles_deg) + 180.0) % 360.0 - 180.0
    return float(steps.sum())


@pytest.mark.parametrize(("label", "sign"), [("rotating_clockwise", 1), ("rotating_counterclockwise", -1)])
def test_rotation_direction_as_a_viewer_sees_it(label: str, sign: int) -> None:
    """With y pointing down, clockwise on screen increases atan2(dy, dx) in image coordinates.

    Measured from the pixels: the direction from the object's centre to its mask centroid (the
    half-disc's centroid sits on its round side) must turn the right way.
    """
    for seed in SEEDS:
        clip = render_clip(label, seed, num_frames=8, height=64, width=64, shape="half_disc")
        offset = _mask_centroid(clip.masks) - clip.centres
        seen = np.degrees(np.arctan2(offset[:, 1], offset[:, 0]))
        turn = _signed_turn(seen)
        assert sign * turn > 60.0, (seed, turn)
        # a step to the right on screen followed by a turn of +90 degrees points down: clockwise
    right_then_down = _signed_turn(np.degrees(np.arctan2(np.array([0.0, 1.0]), np.array([1.0, 0.0]))))
    assert right_then_down == 90.0


def test_renders_any_resolution_with_motion_in_centre_square() -> None:
    clip = render_clip("moving_right", 0, num_frames=48, height=240, width=320, fps=24.0)
    assert clip.frames.shape == (48, 240, 320, 3)
    c = _mask_centroid(clip.masks)
    assert c[:, 0].min() > 40 and c[:, 0].max() < 280
    assert np.all(np.diff(c[:, 0]) > -3)  # rightwards up to jitter
