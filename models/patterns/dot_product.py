"""ViViT Model 4, factorised dot-product attention: one attention layer whose heads are split.

scenic `factorized_dot_product_attention`: with tokens `[B, T'·h·w, D]` (frame-major, no cls) and `H`
heads (`H` even), heads `[0, H/2)` attend over **time** (token `(t, p)` → `(t', p)`, the same patch in
every frame) and heads `[H/2, H)` over **space** (`(t, p)` → `(t, p')`, within its frame); the head
outputs are concatenated in that order and go through the one shared `proj`. The block around it is a
plain pre-norm ViT block, so parameters (and names: `norm1`, `attn.qkv`, `attn.proj`, `norm2`, `mlp`)
equal ViViT Model 1's.

Maps average only within each half (a temporal and a spatial head index different key sets): temporal =
the temporal heads' probabilities averaged over heads and positions; spatial = the spatial heads'
attention received per patch (`models.patterns.maps`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from models.attention_maps import AttentionMaps, BlockAttention, register_reducer
from models.blocks import _PreNorm, register_block
from models.contract import Grid
from models.layers import Attention
from models.patterns.maps import position_mean_temporal, received_spatial

Probs = tuple[Tensor | None, Tensor | None]


class FactorisedDotProductAttention(Attention):
    """`Attention`'s parameters with Model 4's split heads; call `split_heads(x, grid)`.

    `forward` (plain attention over all tokens) is refused: this layer needs the grid. `fused` picks SDPA
    or the explicit softmax for each half, as `Attention` does; `need_weights` returns each half's
    head-averaged probabilities: temporal `[B·h·w, T', T']`, spatial `[B·T', h·w, h·w]`.
    """

    def __init__(self, dim: int, num_heads: int, **kwargs: Any) -> None:
        if num_heads % 2:
            raise ValueError(
                f"factorised dot-product attention splits heads in halves: num_heads={num_heads}"
            )
        super().__init__(dim, num_heads, **kwargs)

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, bias: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        raise TypeError("FactorisedDotProductAttention needs the token grid: call split_heads(x, grid)")

    def split_heads(self, x: Tensor, grid: Grid, *, need_weights: bool = False) -> tuple[Tensor, Probs]:
        """`[B, T'·h·w, D]` → (`[B, T'·h·w, D]`, (temporal, spatial) probabilities or Nones)."""
        t, n, dim, half = grid.t, grid.patches, x.shape[-1], self.num_heads // 2
        qkv = self._qkv(x).reshape(-1, t, n, 3, self.num_heads, self.head_dim).permute(3, 0, 4, 1, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, T', n, d]
        # temporal heads as [B, H/2, n, T', d] (sequences over time); spatial heads as [B, H/2, T', n, d]
        qt, kt, vt = (z[:, :half].transpose(2, 3) for z in (q, k, v))
        out_t, temporal = self._attend(qt, kt, vt, need_weights)
        out_s, spatial = self._attend(q[:, half:], k[:, half:], v[:, half:], need_weights)
        out = torch.cat((out_t.transpose(2, 3), out_s), dim=1)  # [B, H, T', n, d], temporal heads first
        out = out.permute(0, 2, 3, 1, 4).reshape(-1, t * n, dim)
        if temporal is not None and spatial is not None:
            return self.proj_drop(self.proj(out)), (temporal.reshape(-1, t, t), spatial.reshape(-1, n, n))
        return self.proj_drop(self.proj(out)), (None, None)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """Attention over the last-but-one axis of `[B, H/2, S, L, d]`; probabilities mean over heads."""
        if self.fused and not need_weights:  # SDPA on 4-D `[B, H/2·S, L, d]` (what the exporters handle)
            p = self.attn_drop.p if self.training else 0.0
            q4, k4, v4 = (z.flatten(1, 2) for z in (q, k, v))
            out = F.scaled_dot_product_attention(q4, k4, v4, dropout_p=p, scale=self.scale)
            return out.reshape(q.shape), None
        probs = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.attn_drop(probs) @ v, probs.mean(dim=1) if need_weights else None


@register_block
class FactorisedDotProductBlock(_PreNorm):
    """`x + attn(norm1(x))` with Model 4's split-head attention, then `x + mlp(norm2(x))`."""

    pattern = "factorised_dot_product"
    has_cls: ClassVar[bool] = False
    attn: FactorisedDotProductAttention

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, mlp_dim, attn_layer=FactorisedDotProductAttention, **kwargs)

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        res, (temporal, spatial) = self.attn.split_heads(self.norm1(x), grid, need_weights=return_attention)
        x = x + self.drop_path(res)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, self._attention(grid, temporal, spatial, has_cls=False)


@register_reducer("factorised_dot_product")
def dot_product_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal heads → temporal map (mean over positions); spatial heads → received attention."""
    temporal, spatial = attention.probs
    grid = attention.grid
    return AttentionMaps(position_mean_temporal(temporal, grid), received_spatial(spatial, grid))
