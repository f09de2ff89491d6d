"""A `motion` scene: one object doing one of the forward motions among still distractors, and its rendering.

`draw_scene(kind, rng, difficulty)` draws everything random about a clip except the upload's geometry
(`models.demo.upload`); `render(scene, view, times, rng)` draws it at given clip times into any raster.
Scenes are always *forward* (right, down, clockwise, growing, fading in, or static); the generator
reverses the frames for the backward classes, which keeps each pair an exact reversal.

Variety (each factor drawn independently of the class, so none of them tells the classes apart). The
clip's difficulty d in [0, 1] (uniform in the test sets, a curriculum in training) scales it: at d = 0
one large, high-contrast, mostly solid object on a plain or gradient ground, moving over the whole clip,
no distractors, bars, zoom or blur; at d = 1 everything below at full range.

- shape: 20 shapes (`models.demo.shapes`), the main object's extent from ~0.08 to 0.5 of the scene
  square (log-uniform, small ones only on hard clips);
- fill: solid, outline, two-tone, stripes, checker, dots, pink-noise "photo" (`models.demo.textures`),
  at a contrast to the ground (largest channel difference) from 0.5–0.6 (easy) to 0.2–0.4 (hard);
- distractors: 0–5 still objects of any shape and fill, a few drawn in front of the moving one;
- background: flat, gradient, radial, smooth blobs, pink-noise photo, stripes / checker; a quarter bright;
- timing: the motion may hold still at the start and end (it fills 60–100 % of the clip) and ease in,
  out or both (`Warp`), plus a slow wobble of the path;
- move: 0.12 to ~0.9 of the square along the axis, drifting across by up to 1/4 of that;
- rotate: 3° to 60° per step between the model's 8 sampled frames, at most 0.3 of the turn that maps
  the object onto itself (so the direction stays visible: squares turn slower than arrows), and at
  least enough for the object's tip to travel 0.12 of the square (small objects turn faster), shapes or
  fills with a clear orientation (a striped disc turns, a plain one cannot);
- grow: by 2× to 6×, or in 40 % of clips from near-nothing (0.3–2 % of the end size), geometric (a
  steady zoom) or linear in size, so shrinking clips end near-vanished. The object keeps its full
  contrast: only its extent changes;
- fade: opacity from 0–0.35 to 0.8–1 over the same backgrounds (bright, textured): only the contrast
  changes, never the extent;
- static: only the wobble; camera: noise, flicker, blur, salt-and-pepper (`models.demo.upload`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from models.demo.shapes import EXTENT, SHAPES, SYMMETRY, shape_sdf
from models.demo.textures import FILL_SYMMETRY, Fill, backdrop, draw_fill, fill_rgb
from models.demo.upload import Camera, View, apply_camera, draw_camera, to_uint8

Rng = np.random.Generator
Array = np.ndarray

KINDS: tuple[str, ...] = ("static", "move_x", "move_y", "rotate", "grow", "fade")
NOMINAL_FRAMES = 8  # rotation speeds are bounded per step between this many uniformly sampled frames
EASES: tuple[str, ...] = ("linear", "in", "out", "in_out")
_EASE_RATE = {"linear": 1.0, "in": 2.0, "out": 2.0, "in_out": 1.5}  # the largest du/ds of each ease


@dataclass(frozen=True, kw_only=True)
class Warp:
    """Clip time t -> motion progress u in [0, 1]: still before `start` and after `end`, eased between."""

    start: float = 0.0
    end: float = 1.0
    ease: str = "linear"

    def __call__(self, t: Array) -> Array:
        s = np.clip((np.asarray(t, dtype=np.float64) - self.start) / (self.end - self.start), 0.0, 1.0)
        if self.ease == "in":
            return s * s
        if self.ease == "out":
            return 1.0 - (1.0 - s) ** 2
        if self.ease == "in_out":
            return s * s * (3.0 - 2.0 * s)
        return s

    @property
    def max_rate(self) -> float:
        """The largest du/dt (1 for a linear motion over the whole clip)."""
        return _EASE_RATE[self.ease] / (self.end - self.start)


class Track(NamedTuple):
    """The main object over the clip times: centre (x, y), angle (radians, clockwise), size, opacity."""

    x: Array
    y: Array
    angle: Array
    size: Array
    alpha: Array


@dataclass(frozen=True, kw_only=True)
class Motion:
    """A forward motion in scene units: from `start` to `end` (x, y), turning by `turn` from `angle`,
    size `size` growing by `ratio` (geometrically or linearly), opacity from alpha[0] to alpha[1]."""

    kind: str
    start: tuple[float, float]
    end: tuple[float, float]
    angle: float = 0.0
    turn: float = 0.0
    size: float = 0.1
    ratio: float = 1.0
    geometric: bool = True
    alpha: tuple[float, float] = (1.0, 1.0)
    warp: Warp = Warp()
    wobble: Array | None = None  # [2 axes, 3 (amplitude, frequency, phase), k components]

    def track(self, times: Array) -> Track:
        t = np.asarray(times, dtype=np.float64)
        u = self.warp(t)
        x = self.start[0] + (self.end[0] - self.start[0]) * u
        y = self.start[1] + (self.end[1] - self.start[1]) * u
        if self.wobble is not None:
            amp, freq, phase = (
                self.wobble[:, 0, :, None],
                self.wobble[:, 1, :, None],
                self.wobble[:, 2, :, None],
            )
            wob = (amp * np.sin(2 * np.pi * freq * t[None, None, :] + phase)).sum(1)
            x, y = x + wob[0], y + wob[1]
        size = self.size * (self.ratio**u if self.geometric else 1.0 + (self.ratio - 1.0) * u)
        alpha = self.alpha[0] + (self.alpha[1] - self.alpha[0]) * u
        return Track(x=x, y=y, angle=self.angle + self.turn * u, size=size, alpha=alpha)


@dataclass(frozen=True, kw_only=True)
class Prop:
    """A still distractor; `front` ones are drawn over the moving object."""

    shape: str
    fill: Fill
    x: float
    y: float
    size: float
    angle: float
    front: bool = False


@dataclass(frozen=True, kw_only=True)
class Scene:
    """Everything random about a clip but the upload; the background is re-drawn from `backdrop_seed`
    at each raster, so a scene renders the same at the model's size and at the upload's."""

    kind: str
    shape: str
    fill: Fill
    motion: Motion
    props: tuple[Prop, ...]
    camera: Camera
    backdrop_seed: int
    difficulty: float


def symmetry_order(shape: str, fill: Fill) -> int:
    """The rotational symmetry of a filled shape: 0 when no turn is visible (a plain disc)."""
    a, b = SYMMETRY[shape], FILL_SYMMETRY[fill.kind]
    if a == 0 or b == 0:
        return a or b
    return int(np.gcd(a, b))


# --- drawing the scene's parameters ---------------------------------------------------------------


def _log_uniform(rng: Rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _draw_warp(rng: Rng, d: float) -> Warp:
    if rng.random() < 0.9 - 0.6 * d:
        return Warp()
    length = rng.uniform(0.6, 1.0)
    start = rng.uniform(0.0, 1.0 - length)
    return Warp(start=start, end=start + length, ease=str(rng.choice(EASES, p=[0.4, 0.2, 0.2, 0.2])))


def _draw_wobble(rng: Rng, d: float, scale: float) -> Array:
    amp = rng.uniform(0.0, (0.004 + 0.008 * d) * scale, size=(2, 1, 2))
    freq = rng.uniform(0.5, 2.5, size=(2, 1, 2))
    phase = rng.uniform(0.0, 2 * np.pi, size=(2, 1, 2))
    return np.concatenate([amp, freq, phase], axis=1)


def _draw_move(rng: Rng, kind: str, size: float, ext: float, d: float, warp: Warp) -> Motion:
    margin = size * ext * rng.uniform(0.55, 1.05)  # below 1: the object is partly cut at the start or end
    room = max(1.0 - 2.0 * margin, 0.12)
    dist = rng.uniform(min(0.12 + 0.25 * (1 - d), room), room)
    a0 = 0.5 - room / 2.0 + rng.uniform(0.0, room - dist)
    across = rng.uniform(0.5 - 0.2, 0.5 + 0.2)
    drift = rng.uniform(-0.25, 0.25) * dist
    start, end = (a0, across - drift / 2), (a0 + dist, across + drift / 2)
    if kind == "move_y":
        start, end = (start[1], start[0]), (end[1], end[0])
    return Motion(kind=kind, start=start, end=end, angle=rng.uniform(0, 2 * np.pi), size=size, warp=warp)


MIN_ARC = 0.12  # how far (scene units) the object's farthest point travels in a turn, at least


def _draw_turn(rng: Rng, order: int, warp: Warp, reach: float) -> float:
    """Total clockwise turn: 3°–60° per step between nominal frames, under 0.3 of the symmetry angle,
    and enough for the object's farthest point (`reach` from its centre) to travel `MIN_ARC`: a small
    object turning a few degrees shows nothing at the model's resolution."""
    limit = min(60.0, 0.3 * 360.0 / max(order, 1))
    visible = float(np.rad2deg(MIN_ARC / reach)) * warp.max_rate / NOMINAL_FRAMES
    step = _log_uniform(rng, min(max(3.0, visible), limit), limit)
    return float(np.deg2rad(step) * NOMINAL_FRAMES / warp.max_rate)


def _draw_grow(rng: Rng, size: float, d: float) -> tuple[float, float, bool]:
    """(start size, ratio, geometric): from near-nothing in 40 % of clips, else by 2–6×."""
    end = float(np.clip(size * rng.uniform(1.3, 2.5), 0.08, 0.27))
    ratio = 1.0 / rng.uniform(0.003, 0.02) if rng.random() < 0.4 else rng.uniform(2.0 + 0.8 * (1 - d), 6.0)
    return end / ratio, float(ratio), bool(rng.random() < 0.6)


def _object_look(rng: Rng, kind: str, ground: Array, contrast: float, d: float) -> tuple[str, Fill]:
    """Shape and fill of the main object; a rotating one must show its turn."""
    for _ in range(50):
        shape = str(rng.choice(SHAPES))
        fill = draw_fill(rng, ground, contrast, d)
        if kind != "rotate" or symmetry_order(shape, fill) != 0:
            return shape, fill
    return "arrow", draw_fill(rng, ground, contrast, d, kind="solid")


def _draw_props(rng: Rng, ground: Array, contrast: float, d: float, like: Fill) -> tuple[Prop, ...]:
    weights = np.array([10 - 8 * d, 0.5 + 1.5 * d, 0.2 + 1.3 * d, 2 * d, 1.5 * d, 0.5 * d])
    count = int(rng.choice(6, p=weights / weights.sum()))
    props = []
    for _ in range(count):
        twin = rng.random() < 0.3  # sometimes the same paint as the moving object
        fill = like if twin else draw_fill(rng, ground, contrast, d)
        props.append(
            Prop(
                shape=str(rng.choice(SHAPES)),
                fill=fill,
                x=float(rng.uniform(0.0, 1.0)),
                y=float(rng.uniform(0.0, 1.0)),
                size=_log_uniform(rng, 0.03, 0.14),
                angle=float(rng.uniform(0, 2 * np.pi)),
                front=bool(rng.random() < 0.12),
            )
        )
    return tuple(props)


def draw_scene(kind: str, rng: Rng, difficulty: float) -> Scene:
    """Draw a forward scene of `kind` (one of `KINDS`) at `difficulty` in [0, 1]."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    d = float(np.clip(difficulty, 0.0, 1.0))
    backdrop_seed = int(rng.integers(2**31))
    probe = np.linspace(0.15, 0.85, 8)
    ground = backdrop(np.random.default_rng(backdrop_seed), probe, probe, d)[0].mean((0, 1))
    contrast = float(rng.uniform(0.5 - 0.3 * d, 0.6 - 0.2 * d))
    shape, fill = _object_look(rng, kind, ground, contrast, d)
    size = _log_uniform(rng, 0.09 - 0.05 * d, 0.25)
    ext = EXTENT[shape]
    warp = _draw_warp(rng, d)
    centre = (float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65)))
    motion = Motion(
        kind=kind, start=centre, end=centre, angle=rng.uniform(0, 2 * np.pi), size=size, warp=warp
    )
    if kind in ("move_x", "move_y"):
        motion = _draw_move(rng, kind, min(size, 0.3 / ext), ext, d, warp)
    elif kind == "rotate":
        size = max(size, 0.06)
        turn = _draw_turn(rng, symmetry_order(shape, fill), warp, size * ext)
        motion = replace(motion, size=size, turn=turn)
    elif kind == "grow":
        start, ratio, geometric = _draw_grow(rng, size, d)
        motion = replace(motion, size=start, ratio=ratio, geometric=geometric)
    elif kind == "fade":
        alpha = (float(rng.uniform(0.0, 0.1 + 0.25 * d)), float(rng.uniform(0.95 - 0.15 * d, 1.0)))
        motion = replace(motion, alpha=alpha)
    wobble = _draw_wobble(rng, d, 0.5 if kind == "static" else 1.0)
    motion = replace(motion, wobble=wobble)
    props = _draw_props(rng, ground, contrast, d, fill)
    return Scene(
        kind=kind,
        shape=shape,
        fill=fill,
        motion=motion,
        props=props,
        camera=draw_camera(rng, d, max_blur=0.3 * float(motion.track(np.array([0.5])).size[0])),
        backdrop_seed=backdrop_seed,
        difficulty=d,
    )


# --- rendering ------------------------------------------------------------------------------------


def _paint(
    rgb: Array,
    view: View,
    shape: str,
    fill: Fill,
    x: float,
    y: float,
    size: float,
    angle: float,
    alpha: float,
) -> tuple[tuple[slice, slice], Array] | None:
    """Composite one object onto `rgb` [H, W, 3] (in place, "over"); returns (its box, its coverage)."""
    reach = EXTENT[shape] * size + (fill.outline if fill.kind == "outline" else 0.0) + 1.5 / view.unit_px
    c0, c1 = np.searchsorted(view.cols, [x - reach, x + reach])
    r0, r1 = np.searchsorted(view.rows, [y - reach, y + reach])
    if c1 <= c0 or r1 <= r0:
        return None
    dx = view.cols[None, c0:c1] - x
    dy = view.rows[r0:r1, None] - y
    ca, sa = np.cos(angle), np.sin(angle)
    lx = (ca * dx + sa * dy) / size  # the pixel in the object's frame: R(-angle)
    ly = (-sa * dx + ca * dy) / size
    sdf_px = shape_sdf(shape, lx, ly) * (size * view.unit_px)
    if fill.kind == "outline":
        half = max(fill.outline * view.unit_px, 0.8) / 2.0
        cover = np.clip(half + 0.5 - np.abs(sdf_px), 0.0, 1.0)
    else:
        cover = np.clip(0.5 - sdf_px, 0.0, 1.0)
    cover = (cover * min(1.0, 2.0 * size * view.unit_px) ** 2).astype(np.float32)  # sub-pixel objects
    box = (slice(r0, r1), slice(c0, c1))
    a = (cover * np.float32(alpha))[..., None]
    rgb[box] = rgb[box] * (1 - a) + fill_rgb(fill, lx, ly) * a
    return box, cover


def _layers(scene: Scene, view: View) -> tuple[Array, Array | None, Array | None]:
    """(background with the props behind, premultiplied front layer rgb, its alpha) over the view."""
    ground = backdrop(np.random.default_rng(scene.backdrop_seed), view.cols, view.rows, scene.difficulty)[0]
    ground = np.ascontiguousarray(ground, dtype=np.float32)
    front_rgb: Array | None = None
    front_a: Array | None = None
    for p in scene.props:
        if not p.front:
            _paint(ground, view, p.shape, p.fill, p.x, p.y, p.size, p.angle, 1.0)
            continue
        if front_rgb is None or front_a is None:
            front_rgb = np.zeros_like(ground)
            front_a = np.zeros((*view.shape, 1), np.float32)
        hit = _paint(front_rgb, view, p.shape, p.fill, p.x, p.y, p.size, p.angle, 1.0)
        if hit is not None:
            box, cover = hit
            front_a[box] = front_a[box] + cover[..., None] * (1 - front_a[box])
    return ground, front_rgb, front_a


class Rendered(NamedTuple):
    """frames uint8 [T, H, W, 3]; masks float32 [T, H, W] coverage of the main object (opacity not
    included, bars excluded); centres float32 [T, 2] in raster pixels; angles float32 [T]."""

    frames: Array
    masks: Array
    centres: Array
    angles: Array


def render(scene: Scene, view: View, times: Array, rng: Rng, *, bars: float = 0.0) -> Rendered:
    """Render the forward `scene` at clip `times` into `view`; camera noise comes from `rng`."""
    track = scene.motion.track(times)
    ground, front_rgb, front_a = _layers(scene, view)
    n = len(track.x)
    video = np.repeat(ground[None], n, axis=0)
    masks = np.zeros((n, *view.shape), np.float32)
    for i in range(n):
        hit = _paint(
            video[i],
            view,
            scene.shape,
            scene.fill,
            track.x[i],
            track.y[i],
            track.size[i],
            track.angle[i],
            track.alpha[i],
        )
        if hit is not None:
            masks[i][hit[0]] = hit[1]
    if front_rgb is not None and front_a is not None:
        video = video * (1 - front_a) + front_rgb
    frames = apply_camera(video, scene.camera, view.unit_px, rng)
    masks *= view.content[None]
    if float(view.content.min()) < 1.0:  # letterbox or pillarbox bars, drawn after the camera
        content = view.content[None, :, :, None]
        frames = to_uint8(frames.astype(np.float32) * (content / 255.0) + np.float32(bars) * (1 - content))
    centres = view.to_pixels(track.x, track.y).astype(np.float32)
    return Rendered(
        frames=frames,
        masks=masks,
        centres=centres,
        angles=track.angle.astype(np.float32),
    )
