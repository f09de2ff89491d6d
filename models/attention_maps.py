"""Attention maps: a block's raw probabilities (`BlockAttention`) and the reducers that turn them into maps.

Only the **last** layer's attention is used (`models.blocks.run_blocks`); earlier layers keep the fused
SDPA path and no map is ever materialised for them. The last block computes its attention explicitly
(softmax of `q kᵀ / √d`), averages it over heads and returns it as a `BlockAttention`: the pattern's
name, the grid, the probabilities in the pattern's layout. `reduce_attention` looks the pattern up in
`REDUCERS` and reduces the probabilities at once to two maps:

* `spatial` `[B, T', h, w]` — where in each frame the model looked. With a cls token: the cls→patch
  row, restricted to each frame's patches and renormalised so each frame's map sums to 1 (divided /
  space-only: the cls replicated per frame attends within its frame; joint: the single cls row is cut
  into frame blocks). Without a cls token (VideoMAE): the attention each key patch receives, averaged
  over all query tokens, then renormalised per frame.
* `temporal` `[B, T', T']` — which frames attend to which; every row sums to 1.
  - `divided_space_time` (TimeSformer): the temporal attention (patch `p` of frame `i` → the same patch
    `p` of frame `j`), averaged over heads and over the `h·w` spatial positions;
  - `joint_space_time` (TimeSformer joint, ViViT Model 1, VideoMAE): the patch→patch attention summed
    over the key patches of each frame block, averaged over the query patches of each frame block; the
    cls row and column dropped and each row renormalised. The factorised encoder's (ViViT Model 2)
    temporal transformer is a joint block over the grid `(T', 1, 1)` — one token per frame — so this is
    exactly its cls-dropped, row-renormalised sequence attention;
  - `space_only`: the identity — frames never interact in this model, so each frame attends only to
    itself. This is a statement about the architecture, not a measurement.

`T'` is frames / tubelet and `h = w = image_size / patch_size`. Spatial maps are always renormalised
per frame, so they show *where* within a frame, not *how much* a frame mattered; use the temporal map
(or its column means) for the latter.

A new attention pattern (windowed / strided / local-global temporal masks, axial, ViViT Models 3 and 4,
relative position biases, Video Swin windows, several tokenizations) lands as one block class in
`models.blocks` whose `BlockAttention` names the pattern, plus one `@register_reducer("<pattern>")`
function here. A pattern that needs more layout facts than `grid` and `has_cls` (Swin: window size and
shift of a shrunken stage grid; multiview: one grid per view) subclasses `BlockAttention` with those
fields and its reducer reads them. Reducers are plain tensor arithmetic on static shapes (ONNX-safe).

Rollout (Abnar & Zuidema 2020) and Grad-CAM are deliberately not computed here: rollout needs every
layer's maps and Grad-CAM a backward pass; neither belongs on the serving path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, overload

import torch
from torch import Tensor

from models.layers import Grid

_EPS = 1e-12


class AttentionMaps(NamedTuple):
    """`temporal` `[B, T', T']` (rows sum to 1) and `spatial` `[B, T', h, w]` (each frame sums to 1)."""

    temporal: Tensor
    spatial: Tensor


@dataclass(frozen=True, kw_only=True)
class BlockAttention:
    """One block's attention probabilities, averaged over heads, and what a reducer needs to read them.

    pattern: the block's attention pattern, the key of its reducer in `REDUCERS` (and of `BLOCKS`).
    grid: the `(T', h, w)` token grid the probabilities index (patches frame-major, row-major).
    probs: one tensor per attention step of the block, in the layout its pattern documents (below).
    has_cls: whether each attended sequence starts with a cls token (always first).

    Layouts of `probs` by pattern:
    `divided_space_time`: (temporal `[B·h·w, T', T']` batch-major then patch, spatial
    `[B·T', 1 + h·w, 1 + h·w]` frame-major with the cls replicated per frame);
    `joint_space_time`: (`[B, [1 +] T'·h·w, [1 +] T'·h·w]`,);
    `space_only`: (`[B·T', 1 + h·w, 1 + h·w]`,).
    """

    pattern: str
    grid: Grid
    probs: tuple[Tensor, ...]
    has_cls: bool = True


Reducer = Callable[[BlockAttention], AttentionMaps]

#: Attention pattern → the function that turns its `BlockAttention` into `AttentionMaps`.
REDUCERS: dict[str, Reducer] = {}


def register_reducer(pattern: str) -> Callable[[Reducer], Reducer]:
    """Decorator: register `fn` as the reducer of `pattern` (one per pattern)."""

    def register(fn: Reducer) -> Reducer:
        if pattern in REDUCERS:
            raise ValueError(f"a reducer for attention pattern {pattern!r} is already registered")
        REDUCERS[pattern] = fn
        return fn

    return register


@overload
def reduce_attention(attention: BlockAttention) -> AttentionMaps: ...
@overload
def reduce_attention(attention: None) -> None: ...
def reduce_attention(attention: BlockAttention | None) -> AttentionMaps | None:
    """The maps of one block's attention, by its pattern's reducer (None for None: maps not asked for)."""
    if attention is None:
        return None
    reducer = REDUCERS.get(attention.pattern)
    if reducer is None:
        raise KeyError(f"no reducer for attention pattern {attention.pattern!r}; known: {sorted(REDUCERS)}")
    return reducer(attention)


def _renormalise(x: Tensor) -> Tensor:
    return x / x.sum(dim=-1, keepdim=True).clamp_min(_EPS)


def per_frame_cls_spatial(probs: Tensor, grid: Grid) -> Tensor:
    """`[B·T', 1 + h·w, 1 + h·w]` per-frame attention with a cls first → `[B, T', h, w]` cls→patch maps."""
    row = _renormalise(probs[:, 0, 1:])
    return row.reshape(-1, grid.t, grid.h, grid.w)


def identity_temporal(spatial: Tensor, grid: Grid) -> Tensor:
    """`[B, T', T']` identity, for models whose frames never interact."""
    eye = torch.eye(grid.t, dtype=spatial.dtype, device=spatial.device)
    return eye.expand(spatial.shape[0], grid.t, grid.t)


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


@register_reducer("joint_space_time")
def joint_reducer(attention: BlockAttention) -> AttentionMaps:
    (probs,) = attention.probs
    return joint_maps(probs, attention.grid, has_cls=attention.has_cls)


@register_reducer("divided_space_time")
def divided_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal: mean over the `h·w` positions of the temporal step; spatial: the per-frame cls rows."""
    temporal_probs, spatial_probs = attention.probs
    grid = attention.grid
    temporal = temporal_probs.reshape(-1, grid.patches, grid.t, grid.t).mean(dim=1)
    return AttentionMaps(_renormalise(temporal), per_frame_cls_spatial(spatial_probs, grid))


@register_reducer("space_only")
def space_only_reducer(attention: BlockAttention) -> AttentionMaps:
    """Spatial from each frame's cls row; temporal is the identity (see the module docstring)."""
    (probs,) = attention.probs
    spatial = per_frame_cls_spatial(probs, attention.grid)
    return AttentionMaps(identity_temporal(spatial, attention.grid), spatial)
