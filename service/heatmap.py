"""Attention heatmaps as PNG: the sampled frames, each overlaid with its spatial attention.

Pure functions of numpy arrays (pillow for drawing and encoding). A grid has `columns` tiles per row;
each tile is one sampled frame (`H × W`) enlarged by the integer factor `s = tile_scale(H, W)` that
brings its short side to at least `MIN_TILE` pixels (s = 1 for 224² frames), so a grid of N frames is
`min(N, columns)·W·s × ceil(N / columns)·H·s` pixels. A single frame (`render_frame`) keeps the sampled
resolution `H × W`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

ALPHA = 0.45
DEFAULT_COLUMNS = 4
MIN_TILE = 128  # grid tiles are enlarged to at least this short side, so labels stay readable


def tile_scale(height: int, width: int, min_tile: int = MIN_TILE) -> int:
    """The integer factor that brings a frame's short side to at least `min_tile` pixels."""
    return max(1, math.ceil(min_tile / max(1, min(height, width))))


def colormap(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    """A blue→cyan→yellow→red ramp for values in [0, 1]; returns `[..., 3]` uint8."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * v - 3.0), 0.0, 1.0)
    g = np.clip(1.5 - np.abs(4.0 * v - 2.0), 0.0, 1.0)
    b = np.clip(1.5 - np.abs(4.0 * v - 1.0), 0.0, 1.0)
    return (np.stack([r, g, b], axis=-1) * 255.0 + 0.5).astype(np.uint8)


def upsample(attention: NDArray[np.floating], height: int, width: int) -> NDArray[np.float32]:
    """A `[h, w]` map scaled to `[0, 1]` and resized (bilinear) to `[height, width]`."""
    a = np.asarray(attention, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    img = Image.fromarray(a, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def overlay(frame: NDArray[np.uint8], attention: NDArray[np.floating] | None) -> NDArray[np.uint8]:
    """The frame blended with the colour-mapped attention (the frame unchanged when there is none)."""
    if attention is None:
        return frame
    height, width = frame.shape[:2]
    heat = colormap(upsample(attention, height, width)).astype(np.float32)
    blended = (1.0 - ALPHA) * frame.astype(np.float32) + ALPHA * heat
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _label(image: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(image)
    _left, _top, right, bottom = draw.textbbox((3, 2), text)
    draw.rectangle((0, 0, right + 3, bottom + 2), fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255))


def tile(
    frame: NDArray[np.uint8],
    attention: NDArray[np.floating] | None,
    timestamp_s: float,
    importance: float | None,
    scale: int = 1,
) -> Image.Image:
    """One labelled tile; `scale` > 1 enlarges the frame first (the attention is upsampled to match)."""
    if scale > 1:
        height, width = frame.shape[:2]
        size = (width * scale, height * scale)
        frame = np.asarray(Image.fromarray(frame, mode="RGB").resize(size, Image.Resampling.BICUBIC))
    image = Image.fromarray(overlay(frame, attention), mode="RGB")
    text = f"t={timestamp_s:.2f}s" + ("" if importance is None else f"  w={importance:.2f}")
    _label(image, text)
    return image


def render_grid(
    frames: NDArray[np.uint8],
    spatial: NDArray[np.floating] | None,
    timestamps_s: Sequence[float],
    importance: Sequence[float] | None,
    *,
    columns: int = DEFAULT_COLUMNS,
    min_tile: int = MIN_TILE,
) -> bytes:
    """PNG of all frames `[N, H, W, 3]` in a grid, each overlaid with `spatial[k]` (`[N, h, w]`)."""
    _check(frames, spatial, timestamps_s, importance)
    count = frames.shape[0]
    scale = tile_scale(frames.shape[1], frames.shape[2], min_tile)
    height, width = frames.shape[1] * scale, frames.shape[2] * scale
    cols = max(1, min(columns, count))
    rows = math.ceil(count / cols)
    grid = Image.new("RGB", (cols * width, rows * height), (0, 0, 0))
    for k in range(count):
        image = tile(
            frames[k],
            None if spatial is None else spatial[k],
            timestamps_s[k],
            None if importance is None else importance[k],
            scale,
        )
        grid.paste(image, ((k % cols) * width, (k // cols) * height))
    return encode_png(grid)


def render_frame(
    frames: NDArray[np.uint8],
    spatial: NDArray[np.floating] | None,
    timestamps_s: Sequence[float],
    importance: Sequence[float] | None,
    index: int,
) -> bytes:
    """PNG of frame `index` alone, at the sampled resolution `H × W`. Raises IndexError if out of range."""
    _check(frames, spatial, timestamps_s, importance)
    if not 0 <= index < frames.shape[0]:
        raise IndexError(f"frame {index} is out of range [0, {frames.shape[0]})")
    image = tile(
        frames[index],
        None if spatial is None else spatial[index],
        timestamps_s[index],
        None if importance is None else importance[index],
    )
    return encode_png(image)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def _check(
    frames: NDArray[np.uint8],
    spatial: NDArray[np.floating] | None,
    timestamps_s: Sequence[float],
    importance: Sequence[float] | None,
) -> None:
    count = frames.shape[0]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or count == 0:
        raise ValueError(f"frames must be uint8 [N, H, W, 3], got {frames.dtype}{list(frames.shape)}")
    if spatial is not None and spatial.shape[0] != count:
        raise ValueError(f"{spatial.shape[0]} attention maps for {count} frames")
    if len(timestamps_s) != count or (importance is not None and len(importance) != count):
        raise ValueError("one timestamp (and importance) per frame is required")
