"""Attention maps: what `forward(x, return_attention=True)` returns, and how each is computed.

Only the **last** layer's attention is used; earlier layers keep the fused SDPA path and no map is
ever materialised for them. In the last layer the attention is computed explicitly (softmax of
`q kᵀ / √d`), averaged over heads, and reduced at once to two maps:

* `spatial_attention` `[B, T', h, w]` — where in each frame the model looked. For models with a cls
  token: the cls→patch row of the last spatial attention, restricted to each frame's patches and
  renormalised so each frame's map sums to 1 (divided / space-only / factorised: the cls replicated per
  frame attends within its frame; joint: the single cls row is cut into frame blocks). Models without a
  cls token (VideoMAE): the attention each key patch receives, averaged over all query tokens, then
  renormalised per frame.
* `temporal_attention` `[B, T', T']` — which frames attend to which; every row sums to 1.
  - divided space–time (TimeSformer): the last temporal attention (patch `p` of frame `i` → the same
    patch `p` of frame `j`), averaged over heads and over the `h·w` spatial positions;
  - joint space–time (TimeSformer joint, ViViT Model 1, VideoMAE): the patch→patch attention summed over
    the key patches of each frame block, averaged over the query patches of each frame block; the cls
    row and column are dropped and each row renormalised;
  - factorised encoder (ViViT Model 2): the temporal transformer's last layer among the `T'` frame
    tokens, cls dropped and rows renormalised;
  - space-only: the identity — frames never interact in this model, so each frame attends only to
    itself. This is a statement about the architecture, not a measurement.

`T'` is frames / tubelet and `h = w = image_size / patch_size`. Spatial maps are always renormalised
per frame, so they show *where* within a frame, not *how much* a frame mattered; use the temporal map
(or its column means) for the latter.

Rollout (Abnar & Zuidema 2020) and Grad-CAM are deliberately not computed here: rollout needs every
layer's maps and Grad-CAM a backward pass; neither belongs on the serving path.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from models.layers import Grid

_EPS = 1e-12


class AttentionMaps(NamedTuple):
    """`temporal` `[B, T', T']` (rows sum to 1) and `spatial` `[B, T', h, w]` (each frame sums to 1)."""

    temporal: Tensor
    spatial: Tensor


def _renormalise(x: Tensor) -> Tensor:
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def per_frame_cls_spatial(probs: Tensor, grid: Grid) -> Tensor:
    """`[B·T', 1 + h·w, 1 + h·w]` per-frame attention with a cls first → `[B, T', h, w]` cls→patch maps."""
    row = _renormalise(probs[:, 0, 1:])
    return row.reshape(-1, grid.t, grid.h, grid.w)


def divided_maps(temporal_probs: Tensor, spatial_probs: Tensor, grid: Grid) -> AttentionMaps:
    """TimeSformer divided block.

    temporal_probs: `[B·h·w, T', T']`, batch-major then patch (as the divided block groups tokens);
    spatial_probs: `[B·T', 1 + h·w, 1 + h·w]`, frame-major, cls replicated per frame.
    """
    temporal = temporal_probs.reshape(-1, grid.patches, grid.t, grid.t).mean(dim=1)
    return AttentionMaps(_renormalise(temporal), per_frame_cls_spatial(spatial_probs, grid))


def identity_temporal(spatial: Tensor, grid: Grid) -> Tensor:
    """`[B, T', T']` identity, for models whose frames never interact."""
    eye = torch.eye(grid.t, dtype=spatial.dtype, device=spatial.device)
    return eye.expand(spatial.shape[0], grid.t, grid.t)


def space_only_maps(spatial_probs: Tensor, grid: Grid) -> AttentionMaps:
    """Per-frame ViT blocks: spatial from each frame's cls row; temporal is the identity (see module doc)."""
    spatial = per_frame_cls_spatial(spatial_probs, grid)
    return AttentionMaps(identity_temporal(spatial, grid), spatial)


def frame_block_temporal(patch_probs: Tensor, grid: Grid) -> Tensor:
    """`[B, T'·h·w, T'·h·w]` patch→patch attention (frame-major) → `[B, T', T']` frame→frame."""
    n, t = grid.patches, grid.t
    blocks = patch_probs.reshape(-1, t, n, t, n).sum(dim=4).mean(dim=2)  # [B, T'(query), T'(key)]
    return _renormalise(blocks)


def joint_maps(probs: Tensor, grid: Grid, *, has_cls: bool) -> AttentionMaps:
    """Joint space–time attention over `[cls;] (t, h, w)` tokens: `probs` `[B, L, L]`."""
    if has_cls:
        spatial = probs[:, 0, 1:]
        patch_probs = probs[:, 1:, 1:]
    else:
        spatial = probs.mean(dim=1)
        patch_probs = probs
    spatial = _renormalise(spatial.reshape(-1, grid.t, grid.patches)).reshape(-1, grid.t, grid.h, grid.w)
    return AttentionMaps(frame_block_temporal(patch_probs, grid), spatial)


def sequence_temporal(probs: Tensor) -> Tensor:
    """`[B, 1 + T', 1 + T']` attention over `[cls; frames]` → `[B, T', T']`, cls dropped, renormalised."""
    return _renormalise(probs[:, 1:, 1:])
