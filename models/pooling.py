"""Attentive pooling: learned query tokens attend over a clip's tokens (V-JEPA 2, VideoPrism heads).

`AttentionPool(query, tokens)`: `query` `[B, Q, D]`, `tokens` `[B, L, D]` → `[B, Q, D]` and, on request,
the probabilities averaged over heads `[B, Q, L]` (each row sums to 1). q, k and v are separate
projections (`q_proj`, `k_proj`, `v_proj`, the names both references use) to `heads · head_dim`
channels, where `head_dim` may differ from `D / heads` (VideoPrism: `mlp_dim / heads`); `o_proj` maps
back to `D` when present (V-JEPA 2's cross-attention has none). `per_dim_scale` (VideoPrism) multiplies
the query by `1.442695041 / √head_dim · softplus(s)` per channel instead of scaling logits by
`1/√head_dim` (equal at `s = 0`). Fused (SDPA) and explicit paths agree to float32 rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.contract import Grid

#: 1 / softplus(0): VideoPrism's per-dimension query scale is 1 at zero init.
R_SOFTPLUS_0 = 1.442695041


class AttentionPool(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        head_dim: int | None = None,
        out_proj: bool = True,
        per_dim_scale: bool = False,
        qkv_bias: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim if head_dim is not None else dim // num_heads
        inner = num_heads * self.head_dim
        self.fused = fused
        self.q_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.o_proj: nn.Module = nn.Linear(inner, dim) if out_proj else nn.Identity()
        self.per_dim_scale: nn.Parameter | None = (
            nn.Parameter(torch.zeros(self.head_dim)) if per_dim_scale else None
        )

    def _heads(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, query: Tensor, tokens: Tensor, *, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        q = self._heads(self.q_proj(query))
        k, v = self._heads(self.k_proj(tokens)), self._heads(self.v_proj(tokens))
        scale = self.head_dim**-0.5
        if self.per_dim_scale is not None:
            q = q * (R_SOFTPLUS_0 / self.head_dim**0.5) * F.softplus(self.per_dim_scale)
            scale = 1.0
        weights: Tensor | None = None
        if need_weights or not self.fused:
            probs = (q @ k.transpose(-2, -1) * scale).softmax(dim=-1)  # [B, heads, Q, L]
            out = probs @ v
            weights = probs.mean(dim=1) if need_weights else None
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=scale)
        out = out.transpose(1, 2).reshape(-1, query.shape[1], self.num_heads * self.head_dim)
        return self.o_proj(out), weights


def frame_normalised(weights: Tensor, grid: Grid) -> Tensor:
    """`[B, T'·h·w]` weights over frame-major tokens → `[B, T', h, w]`, each frame renormalised to sum
    to 1 (a frame whose weights are all zero stays zero)."""
    frames = weights.reshape(-1, grid.t, grid.patches)
    frames = frames / frames.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return frames.reshape(-1, grid.t, grid.h, grid.w)
