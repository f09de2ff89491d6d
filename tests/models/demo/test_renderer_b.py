"""Renderer B (test-only): all 11 classes with the right temporal semantics, encoded for real, and
independent of the training generator."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import av
import numpy as np
import pytest

from models.demo import renderer_b
from models.demo.motion import LABELS, NUM_CLASSES, PARTNER
from models.demo.renderer_b import ClipB, draw_clip, encode, held_out_rng, make_test_set, model_input, plan


def _centroids(masks: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : masks.shape[1], 0 : masks.shape[2]]
    total = masks.sum((1, 2))
    return np.stack([(masks * xs).sum((1, 2)) / total, (masks * ys).sum((1, 2)) / total], -1)


def _clip(label: str, seed: int, sprite: str | None = None) -> ClipB:
    clip = draw_clip(label, seed, with_masks=True, sprite_name=sprite)
    assert clip.masks is not None and clip.label == LABELS.index(label)
    return clip


@pytest.mark.parametrize(
    ("label", "axis", "sign"),
    [("moving_left", 0, -1), ("moving_right", 0, 1), ("moving_up", 1, -1), ("moving_down", 1, 1)],
)
def test_moving_classes_move_on_screen(label: str, axis: int, sign: int) -> None:
    for seed in range(3):
        clip = _clip(label, seed)
        assert clip.masks is not None
        c = _centroids(clip.masks)
        short = min(clip.frames.shape[1:3])
        delta = c[-1] - c[0]
        assert sign * delta[axis] > 0.2 * short and abs(delta[1 - axis]) < 0.05 * short, (seed, delta)


def test_static_and_fades_keep_their_extent_and_place() -> None:
    for label in ("static", "fading_in", "fading_out"):
        for seed in range(3):
            clip = _clip(label, seed)
            assert clip.masks is not None
            area = clip.masks.sum((1, 2))
            assert area.max() <= 1.02 * area.min() + 1 and np.ptp(_centroids(clip.masks), 0).max() < 0.5


@pytest.mark.parametrize("label", ["fading_in", "fading_out"])
def test_fades_change_contrast(label: str) -> None:
    for seed in range(3):
        clip = _clip(label, seed)
        assert clip.masks is not None
        inside = clip.masks[0] > 0.99
        faint = clip.frames[0 if label == "fading_in" else -1].astype(float)
        contrast = np.array([np.abs(f.astype(float) - faint)[inside].mean() for f in clip.frames])
        if label == "fading_out":
            contrast = contrast[::-1]
        assert contrast[-1] > contrast[len(contrast) // 2] > contrast[1] and contrast[-1] > 20, (
            seed,
            contrast,
        )


@pytest.mark.parametrize(("label", "sign"), [("growing", 1), ("shrinking", -1)])
def test_scale_classes_change_extent(label: str, sign: int) -> None:
    for seed in range(3):
        clip = _clip(label, seed)
        assert clip.masks is not None
        area = clip.masks.sum((1, 2))
        ordered = area if sign > 0 else area[::-1]
        steps = np.diff(ordered)  # the resampled sprite's area wobbles by a few pixels
        assert np.all(steps >= -0.12 * ordered[1:] - 1.0) and ordered[-1] > 4 * ordered[0], (seed, area)


@pytest.mark.parametrize(("label", "sign"), [("rotating_clockwise", 1), ("rotating_counterclockwise", -1)])
def test_rotation_direction_as_seen_on_screen(label: str, sign: int) -> None:
    """The flag's area sits off its centre: the direction from centre to centroid turns the right way
    (with y down, clockwise on screen increases atan2(dy, dx))."""
    for seed in range(3):
        clip = _clip(label, seed, sprite="flag")
        assert clip.masks is not None
        offset = _centroids(clip.masks) - np.stack([clip.truth["x"], clip.truth["y"]], -1)
        seen = np.degrees(np.arctan2(offset[:, 1], offset[:, 0]))
        turn = float((((np.diff(seen) + 180.0) % 360.0) - 180.0).sum())
        planned = clip.truth["angle"][-1] - clip.truth["angle"][0]
        assert sign * turn > 60 and abs(turn - planned) < 0.15 * abs(planned) + 10, (seed, turn, planned)


def test_reversed_plans_are_the_partner_classes() -> None:
    """A class's plan played backwards does what the partner class does (static stays static)."""
    for label in range(NUM_CLASSES):
        forward = plan(label, np.random.default_rng(label), 160, 120, 40)
        partner = plan(PARTNER[label], np.random.default_rng(label), 160, 120, 40)
        for key in ("x", "y", "angle", "side", "alpha"):
            a, b = np.diff(forward[key][::-1]), np.diff(partner[key])
            assert np.all(np.sign(a.round(9)) == np.sign(b.round(9))), (LABELS[label], key)


def test_test_set_is_encoded_decoded_and_reproducible() -> None:
    clips, labels = make_test_set(11, 3, num_frames=8, size=32)
    assert clips.shape == (11, 8, 32, 32, 3) and labels.tolist() == list(range(11))
    again = model_input(4, held_out_rng(3, 4), num_frames=8, size=32)
    assert np.array_equal(clips[4], again)
    codecs = set()
    for i in range(8):
        g = held_out_rng(9, i)
        data = encode(draw_clip(i % 11, g), g)
        with av.open(io.BytesIO(data)) as container:
            codecs.add(container.streams.video[0].codec_context.name)
    assert codecs == {"mpeg4", "h264"}


def test_renderer_b_shares_no_code_with_the_training_generator() -> None:
    tree = ast.parse(Path(renderer_b.__file__).read_text())
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    from_demo = {pair for pair in imported if pair[0] and pair[0].startswith("models.demo")}
    assert from_demo == {
        ("models.demo.motion", "LABELS"),
        ("models.demo.motion", "NUM_CLASSES"),
        ("models.demo.upload", "video_to_input"),
    }
