"""Reductions shared by the pattern reducers (plain tensor arithmetic on static shapes, ONNX-safe).

* `position_mean_temporal`: temporal probabilities of patch `p` of frame `i` over the same patch `p` of
  every frame, `[B·h·w, T', T']` (batch-major, then patch), averaged over heads (already, by the block)
  and over the `h·w` positions → `[B, T', T']`, rows renormalised (the divided-block reduction).
* `received_spatial`: per-frame attention without a cls token, `[B·T', h·w, h·w]` → the attention each
  key patch *receives*, averaged over the frame's query patches, renormalised per frame → `[B, T', h, w]`
  (the VideoMAE convention of `models.attention_maps`).
"""

from __future__ import annotations

from torch import Tensor

from models.contract import Grid

_EPS = 1e-12


def renormalise(x: Tensor) -> Tensor:
    """Rows (the last axis) rescaled to sum to 1."""
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def position_mean_temporal(probs: Tensor, grid: Grid) -> Tensor:
    """`[B·h·w, T', T']` → `[B, T', T']`: the mean over spatial positions, rows renormalised."""
    return renormalise(probs.reshape(-1, grid.patches, grid.t, grid.t).mean(dim=1))


def received_spatial(probs: Tensor, grid: Grid) -> Tensor:
    """`[B·T', h·w, h·w]` → `[B, T', h, w]`: attention received per key patch, mean over queries."""
    received = renormalise(probs.mean(dim=1).reshape(-1, grid.t, grid.patches))
    return received.reshape(-1, grid.t, grid.h, grid.w)
