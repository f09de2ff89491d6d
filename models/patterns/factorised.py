"""ViViT Model 3 (factorised self-attention) and its masked temporal variants, with their reducers.

Layout `[B, T'·h·w, D]`, frame-major, no cls (see `models.patterns`). Every block here is the same
three steps; the variants differ only in which keys the temporal step may attend to:

1. spatial: `[B·T', h·w, D]` (one sequence per frame), `norm1 → attn`, residual;
2. temporal: `[B·h·w, T', D]` (patch `p` of every frame), `temporal_norm1 → temporal_attn`, residual;
3. `norm2 → mlp`, residual.

| pattern | temporal keys of frame `i` (exact zeros elsewhere) |
| --- | --- |
| `factorised_self_attention` | every frame (scenic `EncoderFactorizedSelfAttentionBlock`, space first) |
| `windowed` | `|i − j| ≤ window // 2`, plus a learned relative temporal bias per head |
| `strided_sparse` | `(i − j) mod stride == 0` |
| `local_global` | `|i − j| ≤ window // 2`, plus `⌈T'/stride⌉` segment summaries (one softmax) |

As scenic's block, there is no `temporal_fc` (TimeSformer's divided block has one). Maps: temporal =
the temporal step's probabilities averaged over heads and positions (`local_global`: each summary's
probability spread evenly over the frames it averages); spatial = attention received in the spatial step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from models.attention_maps import AttentionMaps, BlockAttention, register_reducer
from models.blocks import _PreNorm, from_temporal, register_block, to_temporal
from models.contract import Grid
from models.patterns.maps import position_mean_temporal, received_spatial, renormalise
from models.patterns.temporal import (
    RelativeTemporalBias,
    local_global_mask,
    segment_means,
    strided_mask,
    window_mask,
)


@register_block
class FactorisedSelfAttentionBlock(_PreNorm):
    """ViViT Model 3: spatial self-attention within each frame, then temporal across frames (see module)."""

    pattern = "factorised_self_attention"
    has_cls: ClassVar[bool] = False

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        self.temporal_norm1, self.temporal_attn = self._norm_attention(dim, num_heads)

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        dim = x.shape[-1]
        res, spatial = self.attn(self.norm1(x.reshape(-1, grid.patches, dim)), need_weights=return_attention)
        x = x + self.drop_path(res.reshape(-1, grid.tokens, dim))
        res, temporal = self._temporal(self.temporal_norm1(to_temporal(x, grid)), grid.t, return_attention)
        x = x + self.drop_path(from_temporal(res, grid))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, self._attention(grid, temporal, spatial, has_cls=False)

    def _temporal(self, xt: Tensor, t: int, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """The temporal step on normalised `[B·h·w, T', D]`: (output, probabilities `[B·h·w, T', K]`)."""
        return self.temporal_attn(xt, need_weights=need_weights)


def _check_window(window: int) -> None:
    if window < 1 or window % 2 == 0:
        raise ValueError(f"a centred temporal window needs an odd number of frames >= 1, got {window}")


@register_block
class WindowedBlock(FactorisedSelfAttentionBlock):
    """Temporal attention within a centred window of `window` frames plus a learned relative bias.

    The bias table covers exactly the offsets inside the window (`[window, heads]`, zero-initialised).
    """

    pattern = "windowed"

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, window: int = 3, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        _check_window(window)
        self.window = window
        self.temporal_rel_pos = RelativeTemporalBias(num_heads, window // 2)

    def _temporal(self, xt: Tensor, t: int, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        mask = window_mask(t, self.window, device=xt.device)
        return self.temporal_attn(xt, mask=mask, bias=self.temporal_rel_pos(t), need_weights=need_weights)


@register_block
class StridedSparseBlock(FactorisedSelfAttentionBlock):
    """Temporal attention to every `stride`-th frame only (a fixed strided mask)."""

    pattern = "strided_sparse"

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, stride: int = 2, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = stride

    def _temporal(self, xt: Tensor, t: int, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        mask = strided_mask(t, self.stride, device=xt.device)
        return self.temporal_attn(xt, mask=mask, need_weights=need_weights)


@dataclass(frozen=True, kw_only=True)
class LocalGlobalAttention(BlockAttention):
    """`local_global`'s probabilities: temporal `[B·h·w, T', T' + G]` (frame keys, then the `G` segment
    summaries of `stride` frames each), spatial `[B·T', h·w, h·w]`."""

    stride: int


@register_block
class LocalGlobalBlock(FactorisedSelfAttentionBlock):
    """Temporal attention to the `window` nearest frames plus a temporally downsampled global summary.

    The summaries are the means of the normalised tokens over segments of `stride` frames (`G =
    ⌈T'/stride⌉` of them), appended as extra keys; since q/k/v are affine, a summary's key and value are
    exactly the segment means of the frames' keys and values. Local and global keys share one softmax, so
    their probabilities sum to 1 together (the summary queries' outputs are dropped).
    """

    pattern = "local_global"

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, *, window: int = 3, stride: int = 2, **kwargs: Any
    ) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        _check_window(window)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.window, self.stride = window, stride

    def _temporal(self, xt: Tensor, t: int, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        summaries = segment_means(t, self.stride, dtype=xt.dtype, device=xt.device) @ xt  # [B·h·w, G, D]
        mask = local_global_mask(t, self.window, self.stride, device=xt.device)
        out, probs = self.temporal_attn(
            torch.cat((xt, summaries), dim=1), mask=mask, need_weights=need_weights
        )
        return out[:, :t], None if probs is None else probs[:, :t]

    def _attention(self, grid: Grid, *probs: Tensor | None, has_cls: bool = True) -> BlockAttention | None:
        if any(p is None for p in probs):
            return None
        kept = tuple(p for p in probs if p is not None)
        return LocalGlobalAttention(
            pattern=self.pattern, grid=grid, probs=kept, has_cls=False, stride=self.stride
        )


@register_reducer("factorised_self_attention")
@register_reducer("windowed")
@register_reducer("strided_sparse")
def factorised_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal: mean over heads and positions of the temporal step; spatial: received attention."""
    temporal, spatial = attention.probs
    return AttentionMaps(
        position_mean_temporal(temporal, attention.grid), received_spatial(spatial, attention.grid)
    )


@register_reducer("local_global")
def local_global_reducer(attention: BlockAttention) -> AttentionMaps:
    """As `factorised_reducer`, each summary's probability first spread evenly over its segment's frames."""
    if not isinstance(attention, LocalGlobalAttention):
        raise TypeError(f"local_global maps need a LocalGlobalAttention, got {type(attention).__name__}")
    temporal, spatial = attention.probs
    grid = attention.grid
    spread = temporal[..., grid.t :] @ segment_means(
        grid.t, attention.stride, dtype=temporal.dtype, device=temporal.device
    )
    frames = renormalise(temporal[..., : grid.t] + spread)
    return AttentionMaps(position_mean_temporal(frames, grid), received_spatial(spatial, grid))
