"""Shapes as signed distance functions (negative inside), in units of the object's size.

Every shape is centred near the origin with its extent about 1 (at most `EXTENT[name]` from the origin),
in local coordinates with y pointing *down* (image convention). A renderer turns the distance into
anti-aliased coverage with `clip(0.5 - sdf * pixels_per_unit, 0, 1)`, or into an outline with
`clip(0.5 - (|sdf| * pixels_per_unit - width / 2), 0, 1)`; distances need only be right near the edge.

`SYMMETRY[name]` is the order of the shape's rotational symmetry: 1 for shapes with a clear orientation
(an arrow), k when a turn of 360°/k looks the same (4 for a square), 0 for a disc (no visible turn).
A rotation is unambiguous only while each step between sampled frames stays well under 180°/k.

The first eight shapes are those of the issue-9 generator (`models.demo.motion`), unchanged.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def box(x: Array, y: Array, hx: float, hy: float, cx: float = 0.0, cy: float = 0.0) -> Array:
    """A rectangle with half-sides (hx, hy) centred at (cx, cy)."""
    dx = np.abs(x - cx) - hx
    dy = np.abs(y - cy) - hy
    outside = np.sqrt(np.maximum(dx, 0.0) ** 2 + np.maximum(dy, 0.0) ** 2)
    return outside + np.minimum(np.maximum(dx, dy), 0.0)


def _disc(x: Array, y: Array, r: float, cx: float = 0.0, cy: float = 0.0) -> Array:
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _star(x: Array, y: Array, r: float, n: int, m: float) -> Array:
    """A regular n-pointed star (m = 2: a regular n-gon, larger m: sharper points), a point towards -y.

    Inigo Quilez's exact star distance, folded into one sector.
    """
    an, en = np.pi / n, np.pi / m
    acs = np.array([np.cos(an), np.sin(an)])
    ecs = np.array([np.cos(en), np.sin(en)])
    bn = np.mod(np.arctan2(x, -y), 2.0 * an) - an
    length = np.sqrt(x * x + y * y)
    qx = length * np.cos(bn) - r * acs[0]
    qy = length * np.abs(np.sin(bn)) - r * acs[1]
    h = np.clip(-(qx * ecs[0] + qy * ecs[1]), 0.0, r * acs[1] / ecs[1])
    qx, qy = qx + ecs[0] * h, qy + ecs[1] * h
    return np.sqrt(qx * qx + qy * qy) * np.sign(qx)


def _half_plane(x: Array, y: Array, nx: float, ny: float, offset: float = 0.0) -> Array:
    """Inside where nx·x + ny·y < offset (n need not be unit: it is normalised)."""
    norm = float(np.hypot(nx, ny))
    return (nx * x + ny * y - offset) / norm


def _issue9_shape(shape: str, x: Array, y: Array) -> Array | None:
    if shape == "disc":
        return _disc(x, y, 1.0)
    if shape == "square":
        return box(x, y, 0.85, 0.85)
    if shape == "bar":
        return box(x, y, 1.1, 0.45)
    if shape == "triangle":  # tall isosceles, tip pointing to +x
        d1 = -(x + 0.8)  # base at x = -0.8
        d2 = (0.45 * (x - 1.2) + y) / np.hypot(0.45, 1.0)
        d3 = (0.45 * (x - 1.2) - y) / np.hypot(0.45, 1.0)
        return np.maximum(d1, np.maximum(d2, d3))
    if shape == "ell":
        return np.minimum(box(x, y, 0.3, 1.0, -0.6, 0.0), box(x, y, 0.9, 0.3, 0.0, 0.7))
    if shape == "tee":
        return np.minimum(box(x, y, 1.0, 0.3, 0.0, -0.7), box(x, y, 0.3, 1.0, 0.0, 0.0))
    if shape == "half_disc":  # flat side at x = -0.4, round side to +x
        return np.maximum(np.sqrt((x + 0.4) ** 2 + y * y) - 1.2, -(x + 0.4))
    if shape == "arrow":  # shaft to -x, head to +x
        head = np.maximum(
            -(x - 0.2), np.maximum((0.8 * (x - 1.1) + y) / np.hypot(0.8, 1.0), (0.8 * (x - 1.1) - y) / 1.28)
        )
        return np.minimum(head, box(x, y, 0.6, 0.25, -0.4, 0.0))
    return None


def _more_shape(shape: str, x: Array, y: Array) -> Array | None:
    if shape == "star":
        return _star(x, y, 1.15, 5, 3.0)
    if shape == "hexagon":
        return _star(x, y, 1.0, 6, 2.0)
    if shape == "pentagon":
        return _star(x, y, 1.05, 5, 2.0)
    if shape == "cross":
        return np.minimum(box(x, y, 1.0, 0.3), box(x, y, 0.3, 1.0))
    if shape == "ellipse":  # semi-axes 1.15 and 0.6 (approximate distance, right on the edge)
        k = np.sqrt((x / 1.15) ** 2 + (y / 0.6) ** 2)
        return (k - 1.0) * 0.6
    if shape == "diamond":  # a rhombus, long axis along x
        return (np.abs(x) * 0.6 + np.abs(y) * 1.15 - 0.69) / np.hypot(0.6, 1.15)
    if shape == "pacman":  # a disc with a wedge cut out towards +x
        wedge = np.maximum(_half_plane(x, y, -0.5, 1.0), _half_plane(x, y, -0.5, -1.0))
        return np.maximum(_disc(x, y, 1.0), -wedge)
    if shape == "crescent":  # opens towards +x
        return np.maximum(_disc(x, y, 1.0), -_disc(x, y, 0.85, 0.5, 0.0))
    if shape == "notched_disc":  # a disc with a slot from its centre to its edge at +x, like a clock hand
        return np.maximum(_disc(x, y, 1.0), -box(x, y, 0.6, 0.17, 0.6, 0.0))
    if shape == "chevron":  # ">" pointing to +x
        arm = np.minimum(
            box(*_rotate(x - 0.1, y + 0.45, 0.55), 0.75, 0.22),
            box(*_rotate(x - 0.1, y - 0.45, -0.55), 0.75, 0.22),
        )
        return arm
    if shape == "glyph_f":  # the letter F
        stem = box(x, y, 0.22, 1.0, -0.45, 0.0)
        return np.minimum(stem, np.minimum(box(x, y, 0.7, 0.2, 0.05, -0.8), box(x, y, 0.5, 0.18, -0.1, 0.0)))
    if shape == "heart":  # point towards +y (down)
        return _heart(x, y)
    return None


def _rotate(x: Array, y: Array, angle: float) -> tuple[Array, Array]:
    """Coordinates of the point in a frame turned by `angle` (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def _heart(x: Array, y: Array) -> Array:
    """Inigo Quilez's heart, mapped to y down and about unit size."""
    px = np.abs(x) / 1.45
    py = 0.55 - y / 1.45  # y up, the heart between py = 0 (point) and about 1.1
    upper = np.sqrt((px - 0.25) ** 2 + (py - 0.75) ** 2) - np.sqrt(2.0) / 4.0
    t = 0.5 * np.maximum(px + py, 0.0)
    lower = np.sqrt(np.minimum(px**2 + (py - 1.0) ** 2, (px - t) ** 2 + (py - t) ** 2)) * np.sign(px - py)
    return np.where(px + py > 1.0, upper, lower) * 1.45


def shape_sdf(shape: str, x: Array, y: Array) -> Array:
    """Signed distance of the unit-size `shape` at local coordinates (x, y) (y down), negative inside."""
    out = _issue9_shape(shape, x, y)
    if out is None:
        out = _more_shape(shape, x, y)
    if out is None:
        raise ValueError(f"unknown shape {shape!r}")
    return out


# the issue-9 generator's shapes, and which of them have no rotational symmetry
ISSUE9_SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "ell", "tee", "half_disc", "arrow", "bar")
ISSUE9_ASYMMETRIC: tuple[str, ...] = ("triangle", "ell", "tee", "half_disc", "arrow")
SYMMETRY: dict[str, int] = {
    "disc": 0,
    "square": 4,
    "bar": 2,
    "triangle": 1,
    "ell": 1,
    "tee": 1,
    "half_disc": 1,
    "arrow": 1,
    "star": 5,
    "hexagon": 6,
    "pentagon": 5,
    "cross": 4,
    "ellipse": 2,
    "diamond": 2,
    "pacman": 1,
    "crescent": 1,
    "notched_disc": 1,
    "chevron": 1,
    "glyph_f": 1,
    "heart": 1,
}
SHAPES: tuple[str, ...] = tuple(SYMMETRY)
# the farthest any point of the unit shape lies from the origin (for bounding boxes)
EXTENT: dict[str, float] = {
    "disc": 1.05,
    "square": 1.25,
    "bar": 1.25,
    "triangle": 1.25,
    "ell": 1.4,
    "tee": 1.45,
    "half_disc": 1.3,
    "arrow": 1.15,
    "star": 1.2,
    "hexagon": 1.05,
    "pentagon": 1.1,
    "cross": 1.1,
    "ellipse": 1.2,
    "diamond": 1.2,
    "pacman": 1.05,
    "crescent": 1.05,
    "notched_disc": 1.05,
    "chevron": 1.2,
    "glyph_f": 1.3,
    "heart": 1.2,
}
