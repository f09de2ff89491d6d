"""`timeline.png`: a timeline at a glance. A pure function of the document (pillow for drawing).

From top to bottom, all on one time axis from 0 to the video's end:

* a title: model, duration, windows, window and stride;
* the segments as a coloured band, each named when there is room;
* label probabilities over time: one line per label that is some window's top label, a point at each
  window's centre (a label outside a window's top-k counts as 0);
* each window's frame importance: a strip of cells at the sampled frames' times (dark = little attention,
  bright = much, per window), windows alternating between two rows so overlapping ones stay apart;
* the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from service.heatmap import colormap, encode_png
from service.timelines.schemas import TimelineDocument, WindowLine

WIDTH = 1200
MARGIN = 12
BAND = (34, 70)  # y range of the segment band
CHART = (84, 304)  # y range of the probability chart
LANES = (340, 380)  # y range of the two frame-importance rows
LEGEND_Y = 392
HEIGHT = 412
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (57, 59, 121),
    (173, 73, 74),
)
Colour = tuple[int, int, int]


def _colours(doc: TimelineDocument, label_order: Sequence[str]) -> dict[str, Colour]:
    """A fixed colour per label: by the model's label order, then by first appearance."""
    names = list(label_order)
    for window in doc.windows:
        names.extend(score.label for score in window.labels if score.label not in names)
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


class _Axis:
    def __init__(self, duration_s: float) -> None:
        self.duration_s = max(duration_s, 1e-6)
        self.left, self.right = MARGIN, WIDTH - MARGIN

    def x(self, t: float) -> float:
        return self.left + (self.right - self.left) * min(max(t / self.duration_s, 0.0), 1.0)


def _band(draw: ImageDraw.ImageDraw, doc: TimelineDocument, axis: _Axis, colours: dict[str, Colour]) -> None:
    top, bottom = BAND
    draw.rectangle((axis.left, top, axis.right, bottom), outline=(200, 200, 200))
    for segment in doc.segments:
        x0, x1 = axis.x(segment.start_s), axis.x(segment.end_s)
        draw.rectangle((x0, top, max(x1 - 1, x0), bottom), fill=colours.get(segment.label, (90, 90, 90)))
        text = segment.label.replace("_", " ")
        if draw.textlength(text) + 6 < x1 - x0:
            draw.text((x0 + 3, top + 12), text, fill=(255, 255, 255))


def _top_labels(windows: Sequence[WindowLine]) -> list[str]:
    out: list[str] = []
    for window in windows:
        if window.labels and window.labels[0].label not in out:
            out.append(window.labels[0].label)
    return out


def _chart(draw: ImageDraw.ImageDraw, doc: TimelineDocument, axis: _Axis, colours: dict[str, Colour]) -> None:
    top, bottom = CHART

    def y(score: float) -> float:
        return bottom - (bottom - top) * score

    for level in (0.25, 0.5, 0.75, 1.0):
        draw.line((axis.left, y(level), axis.right, y(level)), fill=(225, 225, 225))
        draw.text((axis.left + 2, y(level) + 1), f"{level:.2f}", fill=(150, 150, 150))
    draw.line((axis.left, bottom, axis.right, bottom), fill=(120, 120, 120))
    for label in _top_labels(doc.windows):
        points = [
            (axis.x((w.start_s + w.end_s) / 2), y(next((s.score for s in w.labels if s.label == label), 0.0)))
            for w in doc.windows
        ]
        if len(points) == 1:
            points.append((points[0][0] + 1, points[0][1]))
        draw.line(points, fill=colours[label], width=2)
    for step in _ticks(doc.clip.duration_s):
        draw.line((axis.x(step), bottom, axis.x(step), bottom + 4), fill=(120, 120, 120))
        draw.text((axis.x(step) + 2, bottom + 2), f"{step:g}s", fill=(90, 90, 90))


def _ticks(duration_s: float) -> list[float]:
    """About ten round time marks over the duration."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if duration_s / step <= 10:
            return [k * step for k in range(int(duration_s // step) + 1)]
    return [0.0]


def _importance(draw: ImageDraw.ImageDraw, doc: TimelineDocument, axis: _Axis) -> None:
    top, bottom = LANES
    lane = (bottom - top) // 2
    draw.text((axis.left, top - 13), "frame importance per window", fill=(90, 90, 90))
    for window in doc.windows:
        if not window.frame_importance or not window.timestamps_s:
            continue
        peak = max(window.frame_importance) or 1.0
        row = top + (window.index % 2) * lane
        cells = colormap(np.asarray(window.frame_importance, dtype=np.float64) / peak)
        width = (window.end_s - window.start_s) / len(cells)
        for k, colour in enumerate(cells):
            x0 = axis.x(window.start_s + k * width)
            x1 = max(axis.x(window.start_s + (k + 1) * width) - 1, x0)
            draw.rectangle(
                (x0, row, x1, row + lane - 2), fill=(int(colour[0]), int(colour[1]), int(colour[2]))
            )


def _legend(draw: ImageDraw.ImageDraw, labels: Sequence[str], colours: dict[str, Colour]) -> None:
    x = MARGIN
    for label in labels:
        text = label.replace("_", " ")
        draw.rectangle((x, LEGEND_Y + 2, x + 10, LEGEND_Y + 12), fill=colours[label])
        draw.text((x + 14, LEGEND_Y), text, fill=(40, 40, 40))
        x += 24 + int(draw.textlength(text))


def render_timeline(doc: TimelineDocument, label_order: Sequence[str] = ()) -> bytes:
    """The PNG described in the module docstring (`label_order`: the model's labels, for stable colours)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    axis = _Axis(doc.clip.duration_s)
    colours = _colours(doc, label_order)
    state = "" if doc.complete else ("  (ended early)" if doc.error else "  (in progress)")
    draw.text(
        (MARGIN, 10),
        f"{doc.model.name} {doc.model.version}: {doc.clip.duration_s:.1f} s, {len(doc.windows)} of "
        f"{doc.window_count} windows of {doc.window_s:g} s every {doc.stride_s:g} s{state}",
        fill=(0, 0, 0),
    )
    _band(draw, doc, axis, colours)
    _chart(draw, doc, axis, colours)
    _importance(draw, doc, axis)
    _legend(draw, _top_labels(doc.windows), colours)
    return encode_png(image)
