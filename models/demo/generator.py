"""The `motion` generator that training uses (`GENERATOR`): the 11 classes of `models.demo.motion`, drawn
with the variety a different renderer would plausibly have.

A clip is a forward scene (`models.demo.scene`: object, fill, distractors, background, timing, camera)
seen through a random upload (`models.demo.upload`: aspect, letterbox, zoom, frame rate, length). Only
what the service would keep is rendered: the frames uniform sampling picks, in the centre square, at the
model's size (`render_clip`, the fast path). `render_video` renders the whole upload, every frame at its
own frame size, for the H.264 round trip (`models.demo.h264`).

Every factor is documented where it is drawn (`scene`, `textures`, `upload`) and tested in
`tests/models/demo/test_generator.py`. The temporal pairing is exact: a clip of a backward class
(left, up, counter-clockwise, shrinking, fading out) is the clip of its forward partner drawn from the
same random stream, frames reversed; static is its own partner. Exact reversal is kept at the model's
input: the frames the model sees for a backward clip are those of the forward clip in reverse order
(a real backward upload sampled uniformly would show the same frames up to one source frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.demo.motion import KIND, NUM_CLASSES, RenderedClip, Rng, as_rng, label_index
from models.demo.scene import Rendered, Scene, draw_scene, render
from models.demo.upload import Upload, crop_view, draw_upload, frame_view, scaled

GENERATOR = "motion-v2"
TEST_TAG = 2  # the v2 test stream: default_rng([seed, i, TEST_TAG]), apart from issue 9's [seed, i]


def _reversed(r: Rendered) -> Rendered:
    return Rendered(
        frames=r.frames[::-1].copy(),
        masks=r.masks[::-1].copy(),
        centres=r.centres[::-1].copy(),
        angles=r.angles[::-1].copy(),
    )


def render_clip(
    label: str | int,
    rng: Rng | int | None = None,
    *,
    num_frames: int = 8,
    size: int = 32,
    difficulty: float | None = None,
    upload: Upload | None = None,
) -> RenderedClip:
    """One clip of `label` as the model sees it: `num_frames` uniformly sampled frames, `size`² centre crop.

    All randomness comes from `rng` (a Generator or a seed); `difficulty` in [0, 1] (drawn uniformly
    when None) scales object size and contrast, clutter, textures, noise, blur and timing variety.
    `upload` fixes the upload's geometry and timing instead of drawing it.
    """
    idx, backward, g, scene, up = _draw(label, rng, difficulty, upload)
    times, repeat = np.unique(up.sample_times(num_frames), return_inverse=True)  # short uploads repeat frames
    out = render(scene, crop_view(up, size), times, g, bars=up.bars)
    out = Rendered(*(part[repeat] for part in out))
    if backward:
        out = _reversed(out)
    return RenderedClip(
        frames=out.frames,
        masks=out.masks,
        label=idx,
        centres=out.centres,
        angles=out.angles,
        shape=scene.shape,
    )


@dataclass(frozen=True, kw_only=True)
class Video:
    """A whole upload: frames uint8 [N, H, W, 3] (N = upload.source_frames), in display order for
    `label` (reversed for a backward class), and the forward scene and upload it was drawn from."""

    frames: np.ndarray
    label: int
    scene: Scene
    upload: Upload


def render_video(
    label: str | int,
    rng: Rng | int | None = None,
    *,
    difficulty: float | None = None,
    short_side: int | None = 128,
    upload: Upload | None = None,
) -> Video:
    """Every frame of an upload of `label` at its frame size (scaled to `short_side`, None: as drawn)."""
    idx, backward, g, scene, up = _draw(label, rng, difficulty, upload)
    if short_side is not None:
        up = scaled(up, short_side)
    n = up.source_frames
    out = render(scene, frame_view(up), (np.arange(n) + 0.5) / n, g, bars=up.bars)
    frames = out.frames[::-1].copy() if backward else out.frames
    return Video(frames=frames, label=idx, scene=scene, upload=up)


def object_masks(scene: Scene, upload: Upload, times: np.ndarray, size: int) -> Rendered:
    """The forward scene's ground truth (masks, centres, angles) in the model's crop at `times`."""
    return render(scene, crop_view(upload, size), times, np.random.default_rng(0), bars=upload.bars)


def held_out_rng(seed: int, i: int) -> Rng:
    """The generator for clip `i` of the v2 test set with `seed` (apart from training and issue 9's set)."""
    return np.random.default_rng([seed, i, TEST_TAG])


def test_difficulty(seed: int, i: int) -> float:
    """The difficulty clip `i` of the v2 test set with `seed` is drawn at (uniform in [0, 1])."""
    return float(held_out_rng(seed, i).random())  # `_draw`'s first draw from the clip's stream


def render_test_clips(n: int, seed: int, *, num_frames: int = 8, size: int = 32) -> list[RenderedClip]:
    """`n` clips, labels cycling through the classes (balanced), difficulty uniform; deterministic."""
    return [
        render_clip(i % NUM_CLASSES, held_out_rng(seed, i), num_frames=num_frames, size=size)
        for i in range(n)
    ]


def make_test_set(n: int, seed: int, *, num_frames: int = 8, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [n, T, size, size, 3], int64 [n]) from `render_test_clips`."""
    clips = render_test_clips(n, seed, num_frames=num_frames, size=size)
    return np.stack([c.frames for c in clips]), np.array([c.label for c in clips], dtype=np.int64)


def _draw(
    label: str | int, rng: Rng | int | None, difficulty: float | None, upload: Upload | None
) -> tuple[int, bool, np.random.Generator, Scene, Upload]:
    """The class, its direction, the generator and the forward scene and upload, drawn in this order."""
    idx = label_index(label)
    kind, backward = KIND[idx]
    g = as_rng(rng)
    d = float(g.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
    scene = draw_scene(kind, g, d)
    up = upload if upload is not None else draw_upload(g, d)
    return idx, backward, g, scene, up
