"""Axial attention over `(T', h, w)`: height, then width, then time, each its own attention.

Layout `[B, T'·h·w, D]`, frame-major, no cls. Block (pre-norm, residual after each step):

1. height: `[B·T'·w, h, D]` (each column of each frame), `norm1 → attn`;
2. width: `[B·T'·h, w, D]` (each row of each frame), `width_norm → width_attn`;
3. time: `[B·h·w, T', D]` (each position across frames), `temporal_norm1 → temporal_attn`;
4. `norm2 → mlp`.

Three attentions per block (TimeSformer's "Axial (T+W+H)", 156.8 M parameters at ViT-B; its order was
time, width, height; the design document's and ours is height, width, time).

Maps: temporal = the time step's probabilities averaged over heads and positions. Spatial = the exact
per-frame composition of the two spatial steps: after the height step (probabilities `A_h`, per column)
and the width step (`A_w`, per row), token `(a, j)` mixes token `(e, c)` with weight
`M[(a, j), (e, c)] = A_w[a][j, c] · A_h[c][a, e]` (rows of `M` sum to 1); the map is the attention each
patch `(e, c)` receives under `M`, averaged over the frame's `h·w` queries (residuals not counted).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from models.attention_maps import AttentionMaps, BlockAttention, register_reducer
from models.blocks import _PreNorm, from_temporal, register_block, to_temporal
from models.contract import Grid
from models.patterns.maps import position_mean_temporal, renormalise


@register_block
class AxialBlock(_PreNorm):
    """Height, width, then time attention (see the module docstring); `attn` is the height attention."""

    pattern = "axial"
    has_cls: ClassVar[bool] = False

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        self.width_norm, self.width_attn = self._norm_attention(dim, num_heads)
        self.temporal_norm1, self.temporal_attn = self._norm_attention(dim, num_heads)

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        t, h, w = grid
        dim = x.shape[-1]
        # 1. height: [B, T', h, w, D] -> [B·T'·w, h, D]
        xh = x.reshape(-1, t, h, w, dim).transpose(2, 3).reshape(-1, h, dim)
        res, height = self.attn(self.norm1(xh), need_weights=return_attention)
        x = x + self.drop_path(res.reshape(-1, t, w, h, dim).transpose(2, 3).reshape(-1, grid.tokens, dim))
        # 2. width: [B, T', h, w, D] -> [B·T'·h, w, D]
        res, width = self.width_attn(self.width_norm(x.reshape(-1, w, dim)), need_weights=return_attention)
        x = x + self.drop_path(res.reshape(-1, grid.tokens, dim))
        # 3. time: [B·h·w, T', D]
        res, temporal = self.temporal_attn(
            self.temporal_norm1(to_temporal(x, grid)), need_weights=return_attention
        )
        x = x + self.drop_path(from_temporal(res, grid))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, self._attention(grid, temporal, height, width, has_cls=False)


def composed_spatial(height: Tensor, width: Tensor, grid: Grid) -> Tensor:
    """`A_h` `[B·T'·w, h, h]` and `A_w` `[B·T'·h, w, w]` → received attention under `M` `[B, T', h, w]`.

    received[e, c] = (1 / h·w) Σ_a A_h[c][a, e] · Σ_j A_w[a][j, c]
    """
    t, h, w = grid
    a_h = height.reshape(-1, t, w, h, h)  # [B, T', c, a, e]
    col_in = width.reshape(-1, t, h, w, w).sum(dim=3)  # [B, T', a, c]: Σ_j A_w[a][j, c]
    received = (a_h * col_in.transpose(2, 3).unsqueeze(-1)).sum(dim=3)  # [B, T', c, e]
    return renormalise(received.transpose(2, 3).reshape(-1, t, h * w)).reshape(-1, t, h, w)


@register_reducer("axial")
def axial_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal: the time step, mean over heads and positions; spatial: `composed_spatial`."""
    temporal, height, width = attention.probs
    grid = attention.grid
    return AttentionMaps(position_mean_temporal(temporal, grid), composed_spatial(height, width, grid))
