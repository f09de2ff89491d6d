from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.heatmap import colormap, overlay, render_frame, render_grid, tile_scale


def frames(n: int = 6, h: int = 32, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def spatial(n: int = 6) -> np.ndarray:
    a = np.zeros((n, 4, 4), dtype=np.float32)
    a[:, 0, 0] = 1.0  # attention in the top-left patch
    return a


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_grid_has_the_documented_size() -> None:
    png = render_grid(frames(6), spatial(6), [0.1 * i for i in range(6)], [1 / 6] * 6)
    image = decode(png)
    assert image.format == "PNG" and image.mode == "RGB"
    assert tile_scale(32, 48) == 4  # 32 px short side → tiles enlarged 4× to reach 128 px
    assert image.size == (4 * 48 * 4, 2 * 32 * 4)  # 4 per row, 2 rows
    assert decode(render_grid(frames(3), None, [0, 1, 2], None)).size == (3 * 48 * 4, 32 * 4)
    big = frames(2, 224, 224)
    assert tile_scale(224, 224) == 1
    assert decode(render_grid(big, None, [0, 1], None)).size == (2 * 224, 224)


def test_single_frame_at_sampled_resolution() -> None:
    image = decode(render_frame(frames(6), spatial(6), [0.0] * 6, [1 / 6] * 6, 5))
    assert image.size == (48, 32)
    with pytest.raises(IndexError):
        render_frame(frames(6), spatial(6), [0.0] * 6, None, 6)


def test_overlay_highlights_where_attention_is() -> None:
    f = np.full((32, 32, 3), 128, dtype=np.uint8)
    a = np.zeros((4, 4), dtype=np.float32)
    a[3, 3] = 1.0
    out = overlay(f, a)
    hot, cold = out[28, 28], out[2, 2]
    assert hot[0] > cold[0] and cold[2] > hot[2]  # red where attended, blue elsewhere
    assert overlay(f, None) is f
    assert colormap(np.array([0.0, 1.0])).shape == (2, 3)


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError):
        render_grid(frames(2).astype(np.float32), None, [0, 1], None)
    with pytest.raises(ValueError):
        render_grid(frames(2), spatial(3), [0, 1], None)
    with pytest.raises(ValueError):
        render_grid(frames(2), None, [0], None)
