"""Attention maps of Video Swin (pattern `shifted_windows`): window attention brought back to frames.

Video Swin has no cls token and no global attention: each block attends within 3-D windows of a stage's
`(T', h, w)` volume, and T' never shrinks (patch merging halves only `h` and `w`). The maps are read from
the **last stage** (at 224 px and 32 frames: 16 × 7 × 7, one spatial window per frame, temporal windows of
8 slices), whose grid is the model's attention grid:

* temporal `[B, T', T']`: for each of the stage's last two blocks (a regular- and a shifted-window block,
  Swin's unit; the last block alone when the stage has one), the window attention reduced to frames —
  row `t` = for the real query tokens of frame `t`, the attention mass on the real key tokens of each
  frame `t'`, averaged over those queries, renormalised (padding keys dropped) — then combined as
  attention rollout (Abnar & Zuidema 2020) with the residual: `R = Â_last · Â_prev`, `Â = 0.5·F + 0.5·I`,
  rows renormalised. One block alone only links frames inside its windows; the pair shows the reach of
  the stage's windows once the shift has joined neighbouring ones. Frames never in a shared window get
  0 (≈ 1e-44 across a shifted window's wrap-around: the references' −100 mask, not −inf).
* spatial `[B, T', h, w]`: the last block's attention *received* by each key token from the real queries
  of its window, placed back at the token's `(t, y, x)` (undoing padding, roll and partition), then
  renormalised per frame — where in each frame the windows' queries looked.

The layout of `probs` is `models.swin.windows`'s (padded, rolled by `−shift`, partitioned); the
placement uses the same cached index tables as the forward pass, so a map cell is always the token it
names. Plain tensor arithmetic with constant index tables: ONNX-safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from models.attention_maps import AttentionMaps, BlockAttention, register_reducer
from models.contract import Grid
from models.swin.windows import (
    Triple,
    constant,
    grid_size,
    layout_frames,
    num_windows,
    padded_size,
    token_positions,
)

PATTERN = "shifted_windows"
_EPS = 1e-12


@dataclass(frozen=True, kw_only=True)
class ShiftedWindowAttention(BlockAttention):
    """Window attention of one or more consecutive blocks of one stage (oldest first).

    `grid`: the stage's `(T', h, w)` grid (unpadded). `probs[i]`: `[B·nW_i, N_i, N_i]` head-averaged
    probabilities in the window layout of block `i`, whose clamped window and shift are `windows[i]` and
    `shifts[i]` (`N_i` = the window's volume). `has_cls` is False: Video Swin has no cls token.
    """

    windows: tuple[Triple, ...]
    shifts: tuple[Triple, ...]


def combine(parts: Sequence[ShiftedWindowAttention]) -> ShiftedWindowAttention | None:
    """Consecutive blocks' attention of one stage as one `ShiftedWindowAttention` (None for none)."""
    if not parts:
        return None
    return ShiftedWindowAttention(
        pattern=PATTERN,
        grid=parts[0].grid,
        probs=tuple(p for part in parts for p in part.probs),
        windows=tuple(w for part in parts for w in part.windows),
        shifts=tuple(s for part in parts for s in part.shifts),
        has_cls=False,
    )


def _renormalise(x: Tensor) -> Tensor:
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def _by_window(probs: Tensor, size: Triple, window: Triple) -> Tensor:
    n = math.prod(window)
    return probs.reshape(-1, num_windows(padded_size(size, window), window), n, n)


def frame_temporal(probs: Tensor, grid: Grid, window: Triple, shift: Triple) -> Tensor:
    """One block's window attention `[B·nW, N, N]` → frame-to-frame `[B, T', T']`, rows renormalised."""
    size = grid_size(grid)
    p = _by_window(probs, size, window)  # [B, nW, N(query), N(key)]
    key_frames = constant(layout_frames(size, window, shift), probs)  # [nW, N, T'], 0 for padding
    mass = (p @ key_frames).flatten(1, 2)  # [B, nW·N, T']: each query's attention on each frame
    per_token = mass.index_select(1, constant(token_positions(size, window, shift), probs))
    frames = per_token.reshape(-1, grid.t, grid.patches, grid.t).mean(dim=2)  # real queries only
    return _renormalise(frames)


def received_spatial(probs: Tensor, grid: Grid, window: Triple, shift: Triple) -> Tensor:
    """One block's window attention → attention received per token from real queries, `[B, T', h, w]`."""
    size = grid_size(grid)
    p = _by_window(probs, size, window)
    real_queries = constant(layout_frames(size, window, shift), probs).sum(dim=-1)  # [nW, N]
    received = (p * real_queries.unsqueeze(-1)).sum(dim=2).flatten(1)  # [B, nW·N] by key position
    per_token = received.index_select(1, constant(token_positions(size, window, shift), probs))
    return _renormalise(per_token.reshape(-1, grid.t, grid.patches)).reshape(-1, grid.t, grid.h, grid.w)


@register_reducer(PATTERN)
def shifted_windows_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal: rollout of the blocks' frame maps; spatial: the last block's received attention."""
    if not isinstance(attention, ShiftedWindowAttention):
        raise TypeError(f"{PATTERN} maps need a ShiftedWindowAttention, got {type(attention).__name__}")
    grid = attention.grid
    rollout: Tensor | None = None
    for probs, window, shift in zip(attention.probs, attention.windows, attention.shifts, strict=True):
        frames = frame_temporal(probs, grid, window, shift)
        eye = torch.eye(grid.t, dtype=frames.dtype, device=frames.device)
        step = 0.5 * frames + 0.5 * eye
        rollout = step if rollout is None else step @ rollout
    if rollout is None:
        raise ValueError(f"{PATTERN} attention without probabilities")
    last = attention.probs[-1], attention.windows[-1], attention.shifts[-1]
    return AttentionMaps(_renormalise(rollout), received_spatial(last[0], grid, last[1], last[2]))
