"""The synthetic `motion` dataset: one object per clip does one of 11 things, as seen on screen.

This module defines the classes (`LABELS`, `PARTNER`, `KIND`) and keeps the issue-9 renderer
(`render_clip`, `make_test_set`) exactly as it was: the shipped checkpoints were trained on it and their
cards' `results.test` were measured on it. The richer generator that training uses now, with the
variety a different renderer would draw, is `models.demo.generator` (built on `scene`, `shapes`,
`textures` and `upload`); `models.demo.renderer_b` is an independent renderer used only for testing.

Only the order of the frames tells the classes apart. Each pair (right/left, down/up, clockwise /
counter-clockwise, growing/shrinking, fading in/out) is the *same* frames in reverse order: a clip of the
backward member is rendered as the forward member with the same random parameters, then reversed.

Conventions
-----------
- Frames are `uint8 [T, H, W, 3]` RGB. Image coordinates: x to the right, y *down*.
- "up" means towards the top of the frame (decreasing y). "Clockwise" is as a viewer sees it: with y
  pointing down, a clockwise turn *increases* the angle `atan2(dy, dx)` measured in image coordinates.
- The object moves inside the *centre square* of the frame (side `min(H, W)`): action-recognition
  models assume a central subject, and the service resizes the short side and centre-crops. Outside the
  square there is only background (and clutter).
- Time is normalised to [0, 1] over the whole clip; frame `i` of `T` shows time `(i + 0.5) / T`, which
  is what uniform sampling (segment centres) picks, so a 150-frame clip sampled down to 8 frames shows
  the same motion as an 8-frame clip.
- `difficulty` in [0, 1] sets how hard a clip is (object size, speed, contrast, background clutter,
  noise; below 0.5, a share `1 - 2d` of clips shows a light object on a dark flat ground). The
  dataset draws it uniformly; training uses it for a curriculum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.demo.shapes import ISSUE9_ASYMMETRIC, ISSUE9_SHAPES, shape_sdf

LABELS: tuple[str, ...] = (
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
NUM_CLASSES = len(LABELS)
# label index -> the label of the same frames reversed (static is its own partner)
PARTNER: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9)
# label index -> (kind, reversed?) with the forward members right, down, clockwise, growing, fading_in
KIND: dict[int, tuple[str, bool]] = {
    0: ("static", False),
    1: ("move_x", True),
    2: ("move_x", False),
    3: ("move_y", True),
    4: ("move_y", False),
    5: ("rotate", False),
    6: ("rotate", True),
    7: ("grow", False),
    8: ("grow", True),
    9: ("fade", False),
    10: ("fade", True),
}
# the issue-9 renderer's shapes; those with no rotational symmetry (rotation visible, direction unambiguous)
SHAPES: tuple[str, ...] = ISSUE9_SHAPES
ASYMMETRIC_SHAPES: tuple[str, ...] = ISSUE9_ASYMMETRIC

Rng = np.random.Generator


@dataclass(frozen=True, kw_only=True)
class RenderedClip:
    """A rendered clip with its ground truth.

    frames: uint8 [T, H, W, 3]; masks: float32 [T, H, W] object coverage in [0, 1] (opacity included
    is *not*: a faded object still has its mask); centres: float32 [T, 2] object centre (x, y) in
    pixels; angles: float32 [T] object orientation in radians (image coordinates, clockwise positive).
    """

    frames: np.ndarray
    masks: np.ndarray
    label: int
    centres: np.ndarray
    angles: np.ndarray
    shape: str


def label_index(label: str | int) -> int:
    if isinstance(label, str):
        return LABELS.index(label)
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"label index {label} out of range")
    return int(label)


def as_rng(rng: Rng | int | None) -> Rng:
    """`rng` itself if it is a Generator, else a Generator seeded with it."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# --- backgrounds ----------------------------------------------------------------------------------


def _smooth_noise(rng: Rng, h: int, w: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled random grid: a smooth texture in [0, 1], shape [h, w]."""
    grid = rng.random((cells + 1, cells + 1))
    ys = np.linspace(0, cells, h, dtype=np.float64)
    xs = np.linspace(0, cells, w, dtype=np.float64)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    return (g00 * (1 - fx) + g01 * fx) * (1 - fy) + (g10 * (1 - fx) + g11 * fx) * fy


def _background(rng: Rng, h: int, w: int, difficulty: float) -> np.ndarray:
    """float32 [h, w, 3] in [0, 1]."""
    kind = rng.choice(4, p=_bg_probs(difficulty))
    base = rng.random(3)
    if kind == 0:  # flat
        return np.broadcast_to(base, (h, w, 3)).astype(np.float32).copy()
    if kind == 1:  # linear gradient
        other = rng.random(3)
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        t = (np.cos(ang) * xx / max(w, 1) + np.sin(ang) * yy / max(h, 1)) * 0.5 + 0.5
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return (base * (1 - t[..., None]) + other * t[..., None]).astype(np.float32)
    # smooth noise texture (kind 2) or texture + clutter (kind 3)
    amp = rng.uniform(0.15, 0.45)
    cells = int(rng.integers(2, 7))
    tex = np.stack([_smooth_noise(rng, h, w, cells) for _ in range(3)], axis=-1)
    bg = np.clip(base * (1 - amp) + tex * amp, 0, 1).astype(np.float32)
    if kind == 3:
        side = min(h, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        for _ in range(int(rng.integers(2, 6))):
            size = rng.uniform(0.04, 0.10) * side
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            ang = rng.uniform(0, 2 * np.pi)
            lx = (np.cos(ang) * (xx - cx) + np.sin(ang) * (yy - cy)) / size
            ly = (-np.sin(ang) * (xx - cx) + np.cos(ang) * (yy - cy)) / size
            cover = np.clip(0.5 - shape_sdf(str(rng.choice(SHAPES)), lx, ly) * size, 0, 1)[..., None]
            bg = (bg * (1 - cover) + rng.random(3) * cover).astype(np.float32)
    return bg


def _bg_probs(difficulty: float) -> list[float]:
    d = float(np.clip(difficulty, 0, 1))
    p = np.array([1.0 - 0.7 * d, 0.2 + 0.1 * d, 0.05 + 0.35 * d, 0.05 * d + 0.3 * d * d])
    return list(p / p.sum())


def _object_colour(rng: Rng, bg_mean: np.ndarray, min_contrast: float) -> np.ndarray:
    """A random colour at least `min_contrast` away (max channel difference) from the background."""
    for _ in range(50):
        colour = rng.random(3)
        if np.abs(colour - bg_mean).max() >= min_contrast:
            return colour
    return np.where(bg_mean > 0.5, 0.0, 1.0)


# --- the clip -------------------------------------------------------------------------------------


def render_clip(
    label: str | int,
    rng: Rng | int | None = None,
    *,
    num_frames: int = 8,
    height: int = 32,
    width: int = 32,
    difficulty: float | None = None,
    shape: str | None = None,
    fps: float | None = None,
) -> RenderedClip:
    """Render one clip of `label`; all randomness comes from `rng` (a Generator or a seed).

    `fps` is accepted for symmetry with real videos; motion is defined over normalised clip time, so a
    clip shows the whole motion whatever its length and frame rate.
    """
    del fps
    idx = label_index(label)
    kind, backward = KIND[idx]
    g = as_rng(rng)
    d = float(g.random()) if difficulty is None else float(np.clip(difficulty, 0.0, 1.0))
    t_count, h, w = int(num_frames), int(height), int(width)
    side = float(min(h, w))
    ox, oy = (w - side) / 2.0, (h - side) / 2.0

    # object parameters, in units of the centre square's side
    if shape is None:
        shape = str(g.choice(ASYMMETRIC_SHAPES if kind == "rotate" else SHAPES))
    size = g.uniform(0.17 - 0.07 * d, 0.24 - 0.06 * d)
    times = (np.arange(t_count, dtype=np.float64) + 0.5) / t_count
    scale = np.ones(t_count)
    alpha = np.ones(t_count)
    angle = np.full(t_count, g.uniform(0, 2 * np.pi))
    span = g.uniform(0.55 - 0.25 * d, 0.75 - 0.2 * d)  # how much of the square a move covers
    cx = np.full(t_count, g.uniform(0.5 - 0.1, 0.5 + 0.1))
    cy = np.full(t_count, g.uniform(0.5 - 0.1, 0.5 + 0.1))
    if kind in ("move_x", "move_y"):
        room = 1.0 - 2 * size * 1.1
        dist = min(span, room)
        start = size * 1.1 + g.uniform(0.0, max(room - dist, 0.0))
        along = start + dist * times
        drift = g.uniform(-0.2, 0.2) * dist * (times - 0.5)
        across = g.uniform(0.5 - 0.15, 0.5 + 0.15) + drift
        cx, cy = (along, across) if kind == "move_x" else (across, along)
    elif kind == "rotate":
        turn = g.uniform(np.deg2rad(120 - 30 * d), np.deg2rad(200 - 40 * d))
        angle = angle + turn * (times - 0.5)
        size = size * 1.15
    elif kind == "grow":
        ratio = g.uniform(2.4 - 0.6 * d, 3.2 - 0.8 * d)
        size = min(size * 1.2, 0.38 / np.sqrt(ratio))
        scale = ratio ** (times - 0.5)  # geometric: size grows by the same factor each frame
    elif kind == "fade":
        a0, a1 = g.uniform(0.0, 0.1 + 0.1 * d), g.uniform(0.95 - 0.15 * d, 1.0)
        alpha = a0 + (a1 - a0) * times
    # path jitter: smooth in clip time (a sum of slow sinusoids), so it looks the same at any frame count
    amp = g.uniform(0.0, 0.006 + 0.008 * d, size=(2, 2, 1))
    freq = g.uniform(0.5, 2.5, size=(2, 2, 1))
    phase = g.uniform(0.0, 2 * np.pi, size=(2, 2, 1))
    jitter = (amp * np.sin(2 * np.pi * freq * times[None, None, :] + phase)).sum(1)
    cx, cy = cx + jitter[0], cy + jitter[1]

    # background, colour, noise
    bg = _background(g, h, w, d)
    colour = _object_colour(
        g, bg[int(oy) : int(oy + side), int(ox) : int(ox + side)].mean((0, 1)), 0.55 - 0.25 * d
    )
    if g.random() < 1.0 - 2.0 * d:  # easy clips (d < 0.5): often a light object on a dark flat ground
        bg = np.full((h, w, 3), g.uniform(0.0, 0.2), dtype=np.float32) + g.uniform(0, 0.08, 3).astype(
            np.float32
        )
        colour = g.uniform(0.75, 1.0) - g.uniform(0, 0.2, 3)
    shade = g.uniform(0.0, 0.25 * d)  # a mild two-tone shading across the object
    noise_sigma = g.uniform(0.0, 0.01 + 0.05 * d)
    gain = 1.0 + g.normal(0.0, 0.02 * d, size=t_count)
    # rasterise in chunks of frames (bounded memory for long, large clips); noise is drawn per chunk
    px = (np.arange(w, dtype=np.float32) + 0.5 - ox) / side
    py = (np.arange(h, dtype=np.float32) + 0.5 - oy) / side
    chunk = max(1, 1_500_000 // (h * w))
    frames = np.empty((t_count, h, w, 3), dtype=np.uint8)
    mask = np.empty((t_count, h, w), dtype=np.float32)
    for a in range(0, t_count, chunk):
        sl = slice(a, min(t_count, a + chunk))
        n = sl.stop - sl.start
        noise = g.normal(0.0, 1.0, size=(n, h, w, 3)).astype(np.float32)
        s = (size * scale[sl]).astype(np.float32)[:, None, None]
        dx = px[None, None, :] - cx[sl].astype(np.float32)[:, None, None]
        dy = py[None, :, None] - cy[sl].astype(np.float32)[:, None, None]
        ca = np.cos(angle[sl]).astype(np.float32)[:, None, None]
        sa = np.sin(angle[sl]).astype(np.float32)[:, None, None]
        lx = (ca * dx + sa * dy) / s  # rotate the pixel into the object's frame (R(-angle))
        ly = (-sa * dx + ca * dy) / s
        sdf_px = shape_sdf(shape, lx, ly) * s * side  # in pixels
        m = np.clip(0.5 - sdf_px, 0.0, 1.0).astype(np.float32)
        tone = (1.0 - shade * np.clip(lx * 0.5 + 0.5, 0, 1))[..., None]
        obj = colour.astype(np.float32)[None, None, None, :] * tone
        cover = (m * alpha[sl].astype(np.float32)[:, None, None])[..., None]
        video = bg[None] * (1 - cover) + obj * cover
        video = video * gain[sl].astype(np.float32)[:, None, None, None] + noise * np.float32(noise_sigma)
        frames[sl] = np.clip(video * 255.0 + 0.5, 0, 255).astype(np.uint8)
        mask[sl] = m

    centres = np.stack([cx * side + ox, cy * side + oy], axis=-1).astype(np.float32)
    angles = angle.astype(np.float32)
    if backward:
        frames, mask = frames[::-1].copy(), mask[::-1].copy()
        centres, angles = centres[::-1].copy(), angles[::-1].copy()
    return RenderedClip(frames=frames, masks=mask, label=idx, centres=centres, angles=angles, shape=shape)


def generate_clip(
    label: str | int,
    rng: Rng | int | None = None,
    *,
    num_frames: int = 8,
    height: int = 32,
    width: int = 32,
    fps: float | None = None,
    difficulty: float | None = None,
) -> np.ndarray:
    """uint8 [T, H, W, 3] frames of one clip of `label` (see `render_clip`)."""
    return render_clip(
        label, rng, num_frames=num_frames, height=height, width=width, fps=fps, difficulty=difficulty
    ).frames


def make_batch(
    rng: Rng | int | None,
    n: int,
    *,
    num_frames: int = 8,
    size: int = 32,
    max_difficulty: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """n clips with balanced-at-random labels: (uint8 [n, T, size, size, 3], int64 [n])."""
    g = as_rng(rng)
    labels = g.integers(0, NUM_CLASSES, size=n)
    clips = np.empty((n, num_frames, size, size, 3), dtype=np.uint8)
    for i, lab in enumerate(labels):
        diff = float(g.uniform(0.0, max_difficulty))
        clips[i] = render_clip(
            int(lab), g, num_frames=num_frames, height=size, width=size, difficulty=diff
        ).frames
    return clips, labels.astype(np.int64)


def test_seed_rng(seed: int, i: int) -> Rng:
    """The generator for clip `i` of the fixed test set with `seed` (independent of the training stream)."""
    return np.random.default_rng([seed, i])


def render_test_clips(
    n: int,
    seed: int = 1234,
    *,
    num_frames: int = 8,
    height: int = 32,
    width: int = 32,
    fps: float | None = None,
) -> list[RenderedClip]:
    """The clips of `make_test_set` with their ground truth (masks, centres), at any resolution."""
    return [
        render_clip(
            i % NUM_CLASSES,
            test_seed_rng(seed, i),
            num_frames=num_frames,
            height=height,
            width=width,
            fps=fps,
        )
        for i in range(n)
    ]


def make_test_set(
    n: int, seed: int = 1234, *, num_frames: int = 8, size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed test set: `n` clips, labels cycling through the classes (balanced), full difficulty range.

    Returns (uint8 [n, T, size, size, 3], int64 [n]). Deterministic in `seed`.
    """
    clips = render_test_clips(n, seed, num_frames=num_frames, height=size, width=size)
    return np.stack([c.frames for c in clips]), np.array([c.label for c in clips], dtype=np.int64)
