"""3-D window geometry of Video Swin, computed once per static shape (numpy, cached) and tensor reshapes.

A stage's tokens form a `(D, H, W)` volume (`D` = T' tubelet slices, `H × W` patches). A block with window
`(Wd, Wh, Ww)` and shift `(Sd, Sh, Sw)`:

1. clamps the window to the volume (`clamp_window`, the official `get_window_size`): an axis whose size
   is `<=` the window gets the whole axis as its window **and no shift**;
2. zero-pads the volume at the end of each axis to window multiples (`padded_size`); padded positions
   are keys like any other (the references do not mask them);
3. rolls the volume by `−shift` (`torch.roll`), so `rolled[p] = volume[(p + shift) mod padded]`;
4. cuts it into windows (`window_partition`): window index `w = (iD·nH + iH)·nW + iW`, token index inside
   the window `k = (d·Wh + h)·Ww + w` — the layout of `[B·nW, N, C]` and of every attention map;
5. with a shift, adds `−100` between tokens of different regions (`region_ids`, the official
   `compute_mask`: slices `[0, −W)`, `[−W, −S)`, `[−S, ·)` per axis, 27 ids) so wrapped-around tokens do
   not attend to each other.

Everything here depends only on Python ints, so the exported graph holds constants and no control flow
depends on tensor values.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from models.contract import Grid

Triple = tuple[int, int, int]
SHIFT_MASK_VALUE = -100.0  # the references' additive mask (not −inf)


def clamp_window(size: Triple, window: Triple, shift: Triple) -> tuple[Triple, Triple]:
    """The window and shift a block uses on a `size` volume: axes with `size <= window` are not windowed."""
    win = tuple(s if s <= w else w for s, w in zip(size, window, strict=True))
    sft = tuple(0 if s <= w else h for s, w, h in zip(size, window, shift, strict=True))
    return (win[0], win[1], win[2]), (sft[0], sft[1], sft[2])


def padded_size(size: Triple, window: Triple) -> Triple:
    """`size` rounded up to multiples of `window` on each axis."""
    out = tuple(math.ceil(s / w) * w for s, w in zip(size, window, strict=True))
    return out[0], out[1], out[2]


def num_windows(padded: Triple, window: Triple) -> int:
    return math.prod(p // w for p, w in zip(padded, window, strict=True))


def table_rows(window: Triple) -> int:
    """Rows of a relative position bias table for `window`: `(2Wd − 1)(2Wh − 1)(2Ww − 1)`."""
    return math.prod(2 * w - 1 for w in window)


@lru_cache(maxsize=64)
def relative_position_index(window: Triple) -> np.ndarray:
    """`[N, N]` int64 (N = Wd·Wh·Ww): `Δd·(2Wh−1)(2Ww−1) + Δh·(2Ww−1) + Δw`, offsets shifted to ≥ 0.

    Coordinates are `(d, h, w)` in `ij` order, row = query, column = key (the references' buffer).
    """
    coords = np.stack(np.meshgrid(*(np.arange(w) for w in window), indexing="ij")).reshape(3, -1)
    rel = coords[:, :, None] - coords[:, None, :]  # [3, N, N]
    wd, wh, ww = window
    index = (
        (rel[0] + wd - 1) * (2 * wh - 1) * (2 * ww - 1) + (rel[1] + wh - 1) * (2 * ww - 1) + rel[2] + ww - 1
    )
    index = index.astype(np.int64)
    index.setflags(write=False)
    return index


def _partition_np(volume: np.ndarray, window: Triple) -> np.ndarray:
    """`[Dp, Hp, Wp]` → `[nW, N]`, the layout of `window_partition`."""
    (dp, hp, wp), (wd, wh, ww) = volume.shape, window
    blocks = volume.reshape(dp // wd, wd, hp // wh, wh, wp // ww, ww).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(-1, wd * wh * ww)


@lru_cache(maxsize=64)
def region_ids(padded: Triple, window: Triple, shift: Triple) -> np.ndarray:
    """`[nW, N]` int64: the shift region of every token of the rolled, partitioned volume."""
    labels = np.zeros(padded, dtype=np.int64)
    cuts = [(slice(0, -w), slice(-w, -s), slice(-s, None)) for w, s in zip(window, shift, strict=True)]
    count = 0
    for d in cuts[0]:
        for h in cuts[1]:
            for w in cuts[2]:
                labels[d, h, w] = count
                count += 1
    ids = _partition_np(labels, window)
    ids.setflags(write=False)
    return ids


@lru_cache(maxsize=64)
def token_positions(size: Triple, window: Triple, shift: Triple) -> np.ndarray:
    """`[D·H·W]` int64: where each token of the volume (frame-major, row-major) sits in the window layout.

    The value is the flat index `w·N + k` into `[nW, N]` after padding, rolling by `−shift` and
    partitioning; padded positions are the indices no token maps to.
    """
    padded = padded_size(size, window)
    flat = np.full(padded, -1, dtype=np.int64)
    flat[: size[0], : size[1], : size[2]] = np.arange(math.prod(size)).reshape(size)
    rolled = np.roll(flat, shift=tuple(-s for s in shift), axis=(0, 1, 2))
    layout = _partition_np(rolled, window).reshape(-1)  # layout position -> token (or -1)
    positions = np.empty(math.prod(size), dtype=np.int64)
    real = layout >= 0
    positions[layout[real]] = np.nonzero(real)[0]
    positions.setflags(write=False)
    return positions


@lru_cache(maxsize=64)
def layout_frames(size: Triple, window: Triple, shift: Triple) -> np.ndarray:
    """`[nW, N, D]` float32 one-hot: the frame of each position of the window layout (0 for padding)."""
    padded = padded_size(size, window)
    frames = np.full(padded, -1, dtype=np.int64)
    frames[: size[0], : size[1], : size[2]] = np.arange(size[0])[:, None, None]
    rolled = np.roll(frames, shift=tuple(-s for s in shift), axis=(0, 1, 2))
    layout = _partition_np(rolled, window)
    onehot = (layout[:, :, None] == np.arange(size[0])).astype(np.float32)
    onehot.setflags(write=False)
    return onehot


def constant(array: np.ndarray, like: Tensor) -> Tensor:
    """A cached numpy array as a tensor on `like`'s device (a constant in an exported graph)."""
    tensor = torch.from_numpy(np.array(array))
    return tensor.to(device=like.device, dtype=like.dtype if tensor.is_floating_point() else tensor.dtype)


def shift_bias(padded: Triple, window: Triple, shift: Triple, like: Tensor) -> Tensor:
    """`[nW, 1, N, N]`: 0 within a region, −100 across regions (computed from `[nW, N]` ids, on device)."""
    ids = constant(region_ids(padded, window, shift), like)
    different = ids.unsqueeze(2) != ids.unsqueeze(1)
    return (different.to(like.dtype) * SHIFT_MASK_VALUE).unsqueeze(1)


def window_partition(x: Tensor, padded: Triple, window: Triple) -> Tensor:
    """`[B, Dp, Hp, Wp, C]` → `[B·nW, N, C]` (windows in `(iD, iH, iW)` order, tokens `(d, h, w)`)."""
    (dp, hp, wp), (wd, wh, ww) = padded, window
    c = x.shape[-1]
    x = x.reshape(-1, dp // wd, wd, hp // wh, wh, wp // ww, ww, c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, c)


def window_reverse(windows: Tensor, padded: Triple, window: Triple) -> Tensor:
    """`[B·nW, N, C]` → `[B, Dp, Hp, Wp, C]`, the inverse of `window_partition`."""
    (dp, hp, wp), (wd, wh, ww) = padded, window
    c = windows.shape[-1]
    x = windows.reshape(-1, dp // wd, hp // wh, wp // ww, wd, wh, ww, c)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(-1, dp, hp, wp, c)


def grid_size(grid: Grid) -> Triple:
    return grid.t, grid.h, grid.w
