"""Attention maps of MTV (pattern `multiview`): per view, and fused by the global encoder.

Layouts. View `v` cuts the clip into tubelet slices of `tubelet_v` frames; each slice has its own cls
token followed by its `h·w` patches. The view encoders run per **segment** (the coarsest view's tubelet,
8 frames in MTV-B), so a view's last-layer attention is `[B·S, r·(1 + h·w), r·(1 + h·w)]`: the `r`
slices of one segment, slice-major, each `[cls; patches]`; slices of different segments never interact
inside the view encoders. The global encoder attends over `[cls; T'_max tokens]`, token `i` holding the
cls outputs of every view aligned to the finest view's slice `i` (`models.mtv.model` on `tile`).

* **per view** (`view_maps`), on the view's grid `(T'_v, h, w)`:
  temporal — slice `s` → slice `s'` from the last view layer, patch tokens only (cls rows and columns
  dropped), the attention summed over the key patches of `s'` and averaged over the query patches of
  `s`, rows renormalised; block-diagonal over segments (0 between segments), the identity for a view with
  one slice per segment. Spatial — each slice's own cls → its patches, renormalised per slice.
* **fused** (the model's output, the reducer of `MultiviewAttention`), on the finest view's grid
  `(T'_max, h, w)` = the input contract's: temporal — the global encoder's last layer over the `T'_max`
  merged tokens, cls row and column dropped, rows renormalised (the only place where segments meet);
  spatial — the finest view's per-slice cls → patch map (above).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.attention_maps import AttentionMaps, BlockAttention, joint_maps, register_reducer
from models.contract import Grid

PATTERN = "multiview"
_EPS = 1e-12


@dataclass(frozen=True, kw_only=True)
class MultiviewAttention(BlockAttention):
    """`probs` = (the finest view's last layer `[B·S, r·(1 + h·w), r·(1 + h·w)]`, the global encoder's
    last layer `[B, 1 + T'_max, 1 + T'_max]`); `grid` the finest view's `(T'_max, h, w)`;
    `slices_per_segment` = `r` of the finest view."""

    slices_per_segment: int


def _renormalise(x: Tensor) -> Tensor:
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def _per_slice(probs: Tensor, grid: Grid, slices: int) -> Tensor:
    """`[B·S, r·(1+n), r·(1+n)]` → `[B·S, r (query slice), 1+n, r (key slice), 1+n]`."""
    n = grid.patches
    return probs.reshape(-1, slices, 1 + n, slices, 1 + n)


def slice_cls_spatial(probs: Tensor, grid: Grid, slices: int) -> Tensor:
    """Each slice's cls → its own patches, renormalised: `[B, T'_v, h, w]`."""
    cls_rows = _per_slice(probs, grid, slices)[:, :, 0, :, 1:]  # [B·S, r, r, n]
    own = torch.diagonal(cls_rows, dim1=1, dim2=2).transpose(1, 2)  # [B·S, r, n]
    return _renormalise(own.reshape(-1, grid.t, grid.patches)).reshape(-1, grid.t, grid.h, grid.w)


def slice_temporal(probs: Tensor, grid: Grid, slices: int) -> Tensor:
    """Slice → slice within segments, patch tokens only, block-diagonal over segments: `[B, T'_v, T'_v]`."""
    blocks = _per_slice(probs, grid, slices)[:, :, 1:, :, 1:].sum(dim=4).mean(dim=2)  # [B·S, r, r]
    segments = grid.t // slices
    blocks = _renormalise(blocks).reshape(-1, segments, slices, 1, slices)
    eye = torch.eye(segments, dtype=probs.dtype, device=probs.device).reshape(1, segments, 1, segments, 1)
    return (blocks * eye).reshape(-1, grid.t, grid.t)


def view_maps(probs: Tensor, grid: Grid, slices: int) -> AttentionMaps:
    """One view's maps from its last layer's attention (see the module docstring)."""
    return AttentionMaps(slice_temporal(probs, grid, slices), slice_cls_spatial(probs, grid, slices))


@register_reducer(PATTERN)
def multiview_reducer(attention: BlockAttention) -> AttentionMaps:
    """Fused: the global encoder's temporal map and the finest view's spatial map."""
    if not isinstance(attention, MultiviewAttention):
        raise TypeError(f"{PATTERN} maps need a MultiviewAttention, got {type(attention).__name__}")
    finest, global_probs = attention.probs
    grid = attention.grid
    temporal = joint_maps(global_probs, Grid(grid.t, 1, 1), has_cls=True).temporal
    return AttentionMaps(temporal, slice_cls_spatial(finest, grid, attention.slices_per_segment))
