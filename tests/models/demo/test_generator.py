"""The v2 `motion` generator: exact reversal pairs, each class does what it says, and every factor of
variety the module docstrings promise is really drawn."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.demo import generator
from models.demo.generator import make_test_set, render_clip
from models.demo.motion import NUM_CLASSES
from models.demo.scene import MIN_ARC, NOMINAL_FRAMES, Scene, Warp, draw_scene, render, symmetry_order
from models.demo.shapes import EXTENT, SHAPES
from models.demo.textures import BACKDROPS, FILLS, backdrop, draw_fill
from models.demo.upload import FRAME_RATES, Camera, Upload, crop_view, draw_upload

PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]
PROBE = np.linspace(0.15, 0.85, 8)


def _scenes(kind: str, n: int, seed: int = 0) -> list[Scene]:
    g = np.random.default_rng(seed)
    return [draw_scene(kind, g, float(g.random())) for _ in range(n)]


def _plain(scene: Scene, **changes: object) -> Scene:
    """The scene with no camera effects and no distractors (and `changes`)."""
    return replace(scene, camera=Camera(), props=(), **changes)  # type: ignore[arg-type]


SQUARE = Upload(width=64, height=64, content_w=64.0, content_h=64.0, fps=30.0, seconds=1.0)


def _render(scene: Scene, size: int = 64, frames: int = 8, upload: Upload = SQUARE):  # type: ignore[no-untyped-def]
    return render(scene, crop_view(upload, size), upload.sample_times(frames), np.random.default_rng(0))


def test_clips_are_deterministic_and_balanced() -> None:
    a = render_clip("moving_up", 5, num_frames=8, size=32)
    b = render_clip("moving_up", 5, num_frames=8, size=32)
    c = render_clip("moving_up", 6, num_frames=8, size=32)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (8, 32, 32, 3) and a.masks.shape == (8, 32, 32)
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)
    assert render_clip(3, 0, num_frames=16, size=64).frames.shape == (16, 64, 64, 3)
    x, y = make_test_set(22, 3, size=32)
    assert x.shape == (22, 8, 32, 32, 3) and sorted(np.bincount(y).tolist()) == [2] * NUM_CLASSES
    assert np.array_equal(x, make_test_set(22, 3, size=32)[0])


def test_test_difficulty_is_the_one_each_test_clip_is_drawn_at() -> None:
    clips = generator.render_test_clips(4, 9, num_frames=8, size=32)
    for i, clip in enumerate(clips):
        g = generator.held_out_rng(9, i)
        d = float(g.random())
        assert generator.test_difficulty(9, i) == d
        again = render_clip(i % NUM_CLASSES, g, num_frames=8, size=32, difficulty=d)
        assert np.array_equal(again.frames, clip.frames)


@pytest.mark.parametrize("pair", PAIRS)
def test_pairs_are_exact_reversals(pair: tuple[int, int]) -> None:
    for seed in range(8):
        a = render_clip(pair[0], seed, size=32)
        b = render_clip(pair[1], seed, size=32)
        assert np.array_equal(a.frames, b.frames[::-1])
        assert np.array_equal(a.masks, b.masks[::-1]) and np.array_equal(a.centres, b.centres[::-1])


def test_static_stays_static_both_ways() -> None:
    for seed in range(20):
        clip = render_clip("static", seed, size=64)
        assert np.ptp(clip.centres, axis=0).max() < 0.02 * 64  # a wobble of at most ~1 px at 64 px
        assert np.ptp(clip.angles) == 0.0
        area = clip.masks.sum((1, 2))
        assert area.max() <= 1.1 * area.min() + 2.0
        # its reversal is a static clip too (static is its own partner): same object, same place
        assert np.allclose(clip.centres[::-1].mean(0), clip.centres.mean(0))


@pytest.mark.parametrize(("label", "axis", "sign"), [(1, 0, -1), (2, 0, 1), (3, 1, -1), (4, 1, 1)])
def test_moving_classes_move_along_their_axis(label: int, axis: int, sign: int) -> None:
    for seed in range(25):
        clip = render_clip(label, seed, size=64)
        delta = clip.centres[-1] - clip.centres[0]
        assert sign * delta[axis] > 0.1 * 64 * 0.6, (seed, delta)  # at least ~0.07 of the frame
        assert abs(delta[axis]) > 2 * abs(delta[1 - axis])
        seen = clip.masks.sum((1, 2)) > 0.5
        ys, xs = np.mgrid[0:64, 0:64]
        coords = (xs, ys)[axis]
        centroid = (clip.masks * coords).sum((1, 2))[seen] / clip.masks.sum((1, 2))[seen]
        assert sign * (centroid[-1] - centroid[0]) > 0, seed  # the pixels agree with the ground truth


def _turn_seen(scene: Scene) -> float:
    """Total turn seen in the pixels: the direction from the object's centre to its mask centroid."""
    out = _render(scene, frames=16)
    ys, xs = np.mgrid[0:64, 0:64]
    m = out.masks
    centroid = np.stack([(m * xs).sum((1, 2)), (m * ys).sum((1, 2))], -1) / m.sum((1, 2))[:, None]
    offset = centroid - out.centres
    seen = np.degrees(np.arctan2(offset[:, 1], offset[:, 0]))
    return float((((np.diff(seen) + 180.0) % 360.0) - 180.0).sum())


def test_rotation_speeds_and_direction() -> None:
    """Clockwise on screen (y down) increases the angle; steps between 8 sampled frames span 3°–60° and
    stay under 0.3 of the shape's symmetry angle, so the direction is never ambiguous."""
    steps = []
    for scene in _scenes("rotate", 150):
        order = symmetry_order(scene.shape, scene.fill)
        assert order >= 1  # the turn is visible
        times = (np.arange(NOMINAL_FRAMES * 8) + 0.5) / (NOMINAL_FRAMES * 8)
        rate = np.diff(scene.motion.track(times).angle).max() * 8  # the fastest step between nominal frames
        step = np.degrees(rate)
        limit = min(60.0, 0.3 * 360.0 / order)
        assert 0 < step <= limit + 1e-6
        arc = scene.motion.size * EXTENT[scene.shape] * scene.motion.turn  # how far the tip travels
        assert arc >= MIN_ARC * 0.999 or step >= limit * 0.95, (scene.shape, arc, step)
        steps.append(step)
    assert min(steps) < 8.0 and max(steps) > 35.0  # slow and fast turns
    scene = _scenes("rotate", 1, seed=3)[0]
    quarter = replace(scene.motion, turn=np.pi / 2, warp=Warp(), size=0.2)  # a quarter turn clockwise
    half_disc = _plain(scene, shape="half_disc", fill=replace(scene.fill, kind="solid"), motion=quarter)
    assert 70.0 < _turn_seen(half_disc) < 95.0
    ccw = render_clip("rotating_counterclockwise", 4, size=32)
    assert np.all(np.diff(ccw.angles) <= 0) and ccw.angles[0] > ccw.angles[-1]


def _interior_colour(frames: np.ndarray, masks: np.ndarray) -> list[np.ndarray]:
    return [f[m > 0.99].mean(0) for f, m in zip(frames, masks, strict=True) if (m > 0.99).sum() >= 2]


def test_growing_changes_extent_not_contrast() -> None:
    near_nothing = 0
    scenes = _scenes("grow", 60)
    for scene in scenes:
        track = scene.motion.track(np.linspace(0.0, 1.0, 9))
        assert (
            np.all(track.alpha == 1.0)
            and np.all(np.diff(track.size) >= 0)
            and track.size[-1] >= 2 * track.size[0]
        )
        near_nothing += track.size[0] < 0.05 * track.size[-1]
    assert 0.2 < near_nothing / len(scenes) < 0.6
    scene = _plain(scenes[0], fill=draw_fill(np.random.default_rng(1), np.zeros(3), 0.5, 0.0, kind="solid"))
    out = _render(scene)
    area = out.masks.sum((1, 2))
    assert np.all(np.diff(area) >= -0.5) and area[-1] > 2 * area[0]
    colours = _interior_colour(out.frames, out.masks)  # full contrast whenever a pixel is fully covered
    assert len(colours) >= 2 and np.abs(np.array(colours) - colours[-1]).max() <= 2.0


def test_fading_changes_contrast_not_extent_over_textured_and_bright_grounds() -> None:
    kinds, bright, checked = set(), 0, 0
    for scene in _scenes("fade", 200):
        ground, kind = backdrop(np.random.default_rng(scene.backdrop_seed), PROBE, PROBE, scene.difficulty)
        kinds.add(kind)
        is_bright = float(ground.mean()) > 0.7
        bright += is_bright
        track = scene.motion.track(np.linspace(0.0, 1.0, 9))
        assert np.ptp(track.size) == 0.0 and track.alpha[0] <= 0.35 and track.alpha[-1] >= 0.8
        if checked < 6 and (is_bright or kind in ("photo", "pattern", "smooth")):
            checked += 1
            solid = replace(scene.fill, kind="solid")  # a textured fill's mean varies as the object wobbles
            out = _render(_plain(scene, fill=solid))
            empty = _render(_plain(scene, fill=solid, motion=replace(scene.motion, alpha=(0.0, 0.0))))
            inside = out.masks > 0.99
            contrast = [
                np.abs(f.astype(float) - e.astype(float))[m].mean()
                for f, e, m in zip(out.frames, empty.frames, inside, strict=True)
            ]
            assert np.all(np.diff(contrast) >= -1.0) and contrast[-1] > 2 * contrast[0] + 5, contrast
            area = out.masks.sum((1, 2))
            assert area.max() <= 1.15 * area.min() + 2.0  # the extent stays
    assert kinds == set(BACKDROPS) and bright >= 20 and checked == 6


def test_distractors_stay_still_while_one_object_moves() -> None:
    with_props = [s for s in _scenes("move_x", 40) if len(s.props) >= 2]
    assert with_props
    for scene in with_props[:5]:
        out = _render(replace(scene, camera=Camera()))
        reach = out.masks.max(0) > 0  # wherever the moving object ever is
        reach = np.pad(reach, 2)[:-4, 2:-2] | np.pad(reach, 2)[4:, 2:-2] | np.pad(reach, 2)[2:-2, :-4] | reach
        elsewhere = ~reach
        assert np.array_equal(out.frames[0][elsewhere], out.frames[-1][elsewhere])


def test_every_factor_is_drawn() -> None:
    """Over 500 draws: every shape, fill and prop count, front distractors, sizes from small to half the
    frame, letterboxes, zoom, frame rates, short clips, H.264 qualities, blur and strong noise."""
    g = np.random.default_rng(0)
    scenes, uploads = [], []
    for i in range(500):
        d = float(g.random())
        scenes.append(draw_scene(("static", "move_x", "move_y", "rotate", "grow", "fade")[i % 6], g, d))
        uploads.append(draw_upload(g, d))
    assert {s.shape for s in scenes} == set(SHAPES)
    assert {s.fill.kind for s in scenes} == set(FILLS)
    assert {len(s.props) for s in scenes} == set(range(6))
    assert any(p.front for s in scenes for p in s.props)
    diameters = [2 * draw_scene("static", g, d).motion.size for d in np.linspace(0, 1, 300)]
    assert min(diameters) < 0.1 and max(diameters) > 0.45  # small to half the frame
    assert 0.05 < np.mean([u.letterboxed for u in uploads]) < 0.4
    assert 0.1 < np.mean([u.zoom != 1.0 for u in uploads]) < 0.6
    assert {u.fps for u in uploads} == set(FRAME_RATES)
    assert any(u.source_frames < 8 for u in uploads) and max(u.source_frames for u in uploads) > 200
    assert {u.crf for u in uploads} >= {18, 28, 38, 43}
    assert {u.width > u.height for u in uploads} == {True, False}
    assert 0.2 < np.mean([s.camera.blur > 0 for s in scenes]) < 0.6
    assert max(s.camera.noise for s in scenes) > 0.06


def test_letterbox_bars_and_short_uploads() -> None:
    boxed = Upload(width=64, height=48, content_w=64.0, content_h=64 / 2.35, fps=8.0, seconds=0.5)
    assert boxed.letterboxed and boxed.source_frames == 4
    clip = render_clip("growing", 2, num_frames=8, size=48, upload=boxed)
    bar = (48 - 64 / 2.35) / 2  # ~10.4 px of bar at the top and at the bottom of the crop
    assert clip.frames[:, : int(bar)].max() == 0 and clip.frames[:, -int(bar) :].max() == 0
    assert clip.masks[:, : int(bar)].max() == 0
    assert clip.frames[:, 24].max() > 0
    # 4 source frames sampled to 8: each frame shown twice, as the service would
    assert all(np.array_equal(clip.frames[2 * i], clip.frames[2 * i + 1]) for i in range(4))
    assert not np.array_equal(clip.frames[0], clip.frames[-1])


def test_crop_view_maps_the_centre_square() -> None:
    wide = Upload(width=320, height=180, content_w=320.0, content_h=180.0, fps=30.0, seconds=2.0)
    view = crop_view(wide, 32)
    assert np.allclose(view.cols, (np.arange(32) + 0.5) / 32) and np.allclose(view.rows, view.cols)
    assert view.unit_px == pytest.approx(32.0) and view.content.min() == 1.0
    zoomed = crop_view(replace(wide, zoom=0.8), 32)  # the scene is smaller: the crop sees more of it
    assert zoomed.cols[0] < 0 and zoomed.cols[-1] > 1
