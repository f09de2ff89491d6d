"""Colours, backgrounds and object fills for the `motion` generator (`models.demo.scene`).

Backgrounds (`backdrop`), drawn over a raster whose pixels map to scene coordinates (the centre square
of the frame is [0, 1]²), so a pattern has the same scale in a model-sized crop and a full-size frame:

- `flat`: one colour; `gradient`: linear between two colours at any angle; `radial`: a vignette;
- `smooth`: bilinearly upsampled random grids (soft blobs, the issue-9 texture);
- `photo`: 1/f ("pink") noise through a random colour ramp, which has the spectrum of natural images;
- `pattern`: stripes or a checkerboard, low to full contrast;
- any of them `bright` (paper-white to pastel) with probability 0.25, so fades and dark objects are
  also seen on light ground.

Object fills (`Fill`), evaluated in the object's own coordinates so a texture moves, turns and scales
with the object: `solid`, `outline` (only the rim is drawn; see `models.demo.scene`), `two_tone`
(shaded along the object's x axis), `stripes`, `checker`, `dots` and `photo` (a pink-noise tile).
`FILL_SYMMETRY` is the order of each fill's rotational symmetry (0: none visible, as for a plain fill).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Rng = np.random.Generator
Array = np.ndarray

COLOUR_STYLES: tuple[str, ...] = ("uniform", "saturated", "pastel", "grey", "dark", "bright")


def hsv_to_rgb(h: float, s: float, v: float) -> Array:
    """One HSV colour (each in [0, 1]) as float32 RGB."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float32)


def random_colour(rng: Rng, style: str | None = None) -> Array:
    """A colour in one of `COLOUR_STYLES` (drawn at random when `style` is None): float32 [3] in [0, 1]."""
    style = style or str(rng.choice(COLOUR_STYLES, p=[0.3, 0.25, 0.1, 0.12, 0.12, 0.11]))
    if style == "uniform":
        return rng.random(3).astype(np.float32)
    if style == "saturated":
        return hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0))
    if style == "pastel":
        return hsv_to_rgb(rng.random(), rng.uniform(0.15, 0.4), rng.uniform(0.8, 1.0))
    if style == "grey":
        return np.full(3, rng.random(), dtype=np.float32)
    if style == "dark":
        return hsv_to_rgb(rng.random(), rng.random(), rng.uniform(0.0, 0.3))
    return hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.85, 1.0))


def contrasting_colour(rng: Rng, against: Array, min_contrast: float) -> Array:
    """A random colour at least `min_contrast` away (largest channel difference) from `against`."""
    for _ in range(40):
        colour = random_colour(rng)
        if np.abs(colour - against).max() >= min_contrast:
            return colour
    return np.where(against > 0.5, 0.05, 0.95).astype(np.float32)


# --- scalar fields in [0, 1] -------------------------------------------------------------------------


def smooth_noise(rng: Rng, cols: Array, rows: Array, cells: float) -> Array:
    """A random grid of `cells` per scene unit, bilinearly interpolated at the pixels: [H, W]."""
    gx = (cols - cols.min()) * cells
    gy = (rows - rows.min()) * cells
    nx, ny = int(gx.max()) + 2, int(gy.max()) + 2
    grid = rng.random((ny, nx)).astype(np.float32)
    x0 = np.minimum(gx.astype(int), nx - 2)
    y0 = np.minimum(gy.astype(int), ny - 2)
    fx = (gx - x0).astype(np.float32)[None, :]
    fy = (gy - y0).astype(np.float32)[:, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def pink_noise(rng: Rng, h: int, w: int, beta: float = 2.0) -> Array:
    """Noise with a power spectrum ~ 1/f^beta (beta 2: natural images), scaled to [0, 1]: [h, w]."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    phase = rng.uniform(0.0, 2 * np.pi, size=amp.shape)
    field = np.fft.irfft2(amp * np.exp(1j * phase), s=(h, w))
    lo, hi = np.percentile(field, [1.0, 99.0])
    return np.clip((field - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0).astype(np.float32)


def colour_ramp(field: Array, colours: Array) -> Array:
    """Map a field in [0, 1] through a piecewise-linear ramp of k colours [k, 3]: [..., 3] float32."""
    k = len(colours)
    pos = np.clip(field, 0.0, 1.0) * (k - 1)
    i = np.minimum(pos.astype(int), k - 2)
    f = (pos - i)[..., None]
    return (colours[i] * (1 - f) + colours[i + 1] * f).astype(np.float32)


# --- backgrounds -------------------------------------------------------------------------------------

BACKDROPS: tuple[str, ...] = ("flat", "gradient", "radial", "smooth", "photo", "pattern")


def backdrop_probs(difficulty: float) -> list[float]:
    """How often each of `BACKDROPS` is drawn: plain ground on easy clips, textures on hard ones."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    p = np.array([0.6 - 0.45 * d, 0.25 - 0.05 * d, 0.1 - 0.02 * d, 0.05 + 0.15 * d, 0.35 * d, 0.17 * d])
    return list(p / p.sum())


def _ground_colours(rng: Rng, n: int, bright: bool) -> Array:
    base = random_colour(rng, "bright" if bright else None)
    out = [base]
    for _ in range(n - 1):
        other = random_colour(rng, "bright" if bright else None)
        mix = rng.uniform(0.3, 1.0)  # how far the other colours stray from the first
        out.append(base * (1 - mix) + other * mix)
    return np.stack(out).astype(np.float32)


def backdrop(rng: Rng, cols: Array, rows: Array, difficulty: float) -> tuple[Array, str]:
    """A background over the raster with scene coordinates `cols` (x) and `rows` (y): ([H, W, 3], kind).

    Its kind and colours are drawn before any random field, so the same seed gives the same ground
    colours at any raster size (only the fine detail of the noise differs).
    """
    kind = str(rng.choice(BACKDROPS, p=backdrop_probs(difficulty)))
    bright = bool(rng.random() < 0.25)
    colours = _ground_colours(rng, int(rng.integers(2, 5)), bright)
    h, w = len(rows), len(cols)
    xx, yy = cols[None, :], rows[:, None]
    if kind == "flat":
        return np.broadcast_to(colours[0], (h, w, 3)).copy(), kind
    if kind in ("gradient", "radial"):
        if kind == "gradient":
            ang = rng.uniform(0, 2 * np.pi)
            t = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) / rng.uniform(0.7, 1.6) + 0.5
        else:
            cx, cy = rng.uniform(0.2, 0.8, 2)
            t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(0.5, 1.0)
        return colour_ramp(np.clip(t, 0, 1).astype(np.float32), colours[:2]), kind
    if kind == "smooth":
        amp, cells = rng.uniform(0.15, 0.5), rng.uniform(2, 7)
        tex = np.stack([smooth_noise(rng, cols, rows, cells) for _ in range(3)], axis=-1)
        return np.clip(colours[0] * (1 - amp) + tex * amp, 0, 1).astype(np.float32), kind
    if kind == "photo":
        beta, grain = rng.uniform(1.6, 2.6), rng.uniform(0.0, 0.25)
        ground = colour_ramp(pink_noise(rng, h, w, beta), colours)
        detail = pink_noise(rng, h, w, 1.2)[..., None] - 0.5  # fine luminance grain
        return np.clip(ground + detail * grain, 0, 1).astype(np.float32), kind
    return _pattern(rng, xx, yy, colours[:2]), kind


def _pattern(rng: Rng, xx: Array, yy: Array, colours: Array) -> Array:
    """Stripes or a checkerboard in scene coordinates, 2–12 cycles per unit, softened edges."""
    freq = rng.uniform(2.0, 12.0)
    ang = rng.uniform(0, np.pi)
    u = (np.cos(ang) * xx + np.sin(ang) * yy) * freq
    s = 0.5 + 0.5 * np.sin(2 * np.pi * u)
    if rng.random() < 0.5:  # checkerboard
        v = (-np.sin(ang) * xx + np.cos(ang) * yy) * freq
        s = 0.5 + 0.5 * np.sin(2 * np.pi * u) * np.sin(2 * np.pi * v)
    hard = rng.uniform(1.0, 6.0)  # 1: sinusoidal, 6: nearly square edges
    s = np.clip((s - 0.5) * hard + 0.5, 0, 1).astype(np.float32)
    return colour_ramp(s, colours)


# --- object fills ------------------------------------------------------------------------------------

FILLS: tuple[str, ...] = ("solid", "outline", "two_tone", "stripes", "checker", "dots", "photo")
FILL_SYMMETRY: dict[str, int] = {
    "solid": 0,
    "outline": 0,
    "two_tone": 1,
    "stripes": 2,
    "checker": 4,
    "dots": 4,
    "photo": 1,
}


@dataclass(frozen=True, kw_only=True)
class Fill:
    """How an object is painted. colour: the main colour; second: the pattern's other colour;
    freq: pattern cycles per object size; angle: pattern direction; outline: rim width in scene units
    (outline fill); tile: the photo fill's pink-noise tile [k, k, 3] over local coordinates [-1.5, 1.5]²."""

    kind: str
    colour: Array
    second: Array
    freq: float = 1.5
    angle: float = 0.0
    outline: float = 0.03
    tile: Array | None = None

    @property
    def mean_colour(self) -> Array:
        if self.kind in ("solid", "outline"):
            return self.colour
        if self.tile is not None:
            return self.tile.mean((0, 1))
        return 0.5 * (self.colour + self.second)


def fill_probs(difficulty: float) -> list[float]:
    """How often each of `FILLS` is drawn: mostly solid on easy clips, textures and outlines on hard ones."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    p = np.array(
        [
            0.8 - 0.55 * d,
            0.03 + 0.12 * d,
            0.1 + 0.02 * d,
            0.02 + 0.08 * d,
            0.01 + 0.07 * d,
            0.01 + 0.04 * d,
            0.03 + 0.22 * d,
        ]
    )
    return list(p / p.sum())


def draw_fill(
    rng: Rng, against: Array, min_contrast: float, difficulty: float, kind: str | None = None
) -> Fill:
    """A fill whose mean colour stands at least `min_contrast` away from the ground colour `against`."""
    kind = kind or str(rng.choice(FILLS, p=fill_probs(difficulty)))
    colour = contrasting_colour(rng, against, min_contrast)
    second = contrasting_colour(rng, colour, rng.uniform(0.2, 0.7))
    if kind == "two_tone":
        second = np.clip(colour * rng.uniform(0.3, 0.75), 0, 1).astype(np.float32)  # a shaded side
    tile = None
    if kind == "photo":
        ramp = np.stack([colour, second, contrasting_colour(rng, colour, 0.2)])
        tile = colour_ramp(pink_noise(rng, 24, 24, rng.uniform(1.5, 2.5)), ramp)
        shift = colour - tile.mean((0, 1))  # keep the contrast the caller asked for
        tile = np.clip(tile + shift, 0, 1).astype(np.float32)
    return Fill(
        kind=kind,
        colour=colour,
        second=second,
        freq=float(rng.uniform(0.8, 2.5)),
        angle=float(rng.uniform(0, np.pi)),
        outline=float(rng.uniform(0.012, 0.05)),
        tile=tile,
    )


def fill_rgb(fill: Fill, lx: Array, ly: Array) -> Array:
    """The fill's colour at object-local coordinates (lx, ly) (unit object size): [..., 3] float32."""
    if fill.kind in ("solid", "outline"):
        return np.broadcast_to(fill.colour, (*lx.shape, 3))
    if fill.kind == "two_tone":
        t = np.clip(lx * 0.5 + 0.5, 0.0, 1.0)[..., None]
        return (fill.colour * (1 - t) + fill.second * t).astype(np.float32)
    if fill.kind == "photo" and fill.tile is not None:
        k = fill.tile.shape[0]
        ix = np.clip(((lx + 1.5) / 3.0 * (k - 1)).astype(int), 0, k - 1)
        iy = np.clip(((ly + 1.5) / 3.0 * (k - 1)).astype(int), 0, k - 1)
        return fill.tile[iy, ix]
    c, s = np.cos(fill.angle), np.sin(fill.angle)
    u = (c * lx + s * ly) * fill.freq
    if fill.kind == "stripes":
        t = (np.mod(u, 1.0) < 0.5).astype(np.float32)
    else:
        v = (-s * lx + c * ly) * fill.freq
        if fill.kind == "checker":
            t = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        else:  # dots
            t = ((np.mod(u, 1.0) - 0.5) ** 2 + (np.mod(v, 1.0) - 0.5) ** 2 < 0.09).astype(np.float32)
    t = t[..., None]
    return (fill.colour * (1 - t) + fill.second * t).astype(np.float32)
