"""MTV's lateral connection between views: cross-view attention (CVA), the paper's and scenic's default.

At a fusion layer, before the layer's per-view blocks, every view is LayerNorm-ed once
(`norms[v]`, scenic `cross_attention_ln_view{v}`); then, from the finest view down (descending index,
scenic `fuse_in_descending_order=True`), view `v − 1` queries view `v`:

    x[v−1] ← x[v−1] + CrossAttention_v(query = n[v−1], key/value = n[v])

with the heads and width of the query view, within each segment (both views' tokens of the same 8-frame
segment, `[B·S, L_v, C_v]`), and all from the pre-update normalised tokens `n`. Information flows from the
finer view (more tokens, wider encoder in MTV-B) into the coarser one. scenic zero-initialises the output
projection (fusion starts as the identity when the views come from pretrained ViTs); here that is
`zero_init=True`, off for models trained from scratch like the rest of this package.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CrossAttention(nn.Module):
    """Multi-head attention of `x` `[N, Lq, D]` over `context` `[N, Lk, Dc]`: q from `x`, k and v from
    `context`, both projected to `D` with `num_heads` heads; out projection `D → D` (SDPA)."""

    def __init__(self, dim: int, context_dim: int, num_heads: int, *, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(context_dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        lq, lk, dim = x.shape[1], context.shape[1], x.shape[2]
        q = self.q(x).reshape(-1, lq, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(context).reshape(-1, lk, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1], scale=self.head_dim**-0.5)
        return self.proj(out.transpose(1, 2).reshape(-1, lq, dim))


class CrossViewFusion(nn.Module):
    """One fusion layer over all views (`widths[v]`, `heads[v]`, coarsest view first)."""

    def __init__(
        self, widths: tuple[int, ...], heads: tuple[int, ...], *, norm_eps: float, zero_init: bool
    ) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(w, eps=norm_eps) for w in widths)
        # attn[v − 1]: view v − 1 (query) attends to view v
        self.attn = nn.ModuleList(
            CrossAttention(widths[v - 1], widths[v], heads[v - 1]) for v in range(1, len(widths))
        )
        self.zero_init = zero_init

    def reset_output(self) -> None:
        """Zero the output projections (scenic's initialisation), when `zero_init`."""
        if not self.zero_init:
            return
        for attn in self.attn:
            assert isinstance(attn, CrossAttention)
            nn.init.zeros_(attn.proj.weight)
            nn.init.zeros_(attn.proj.bias)

    def forward(self, views: list[Tensor]) -> list[Tensor]:
        normed = [norm(x) for norm, x in zip(self.norms, views, strict=True)]
        out = list(views)
        for v in range(len(views) - 1, 0, -1):
            out[v - 1] = out[v - 1] + self.attn[v - 1](normed[v - 1], normed[v])
        return out
