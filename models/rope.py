"""3-D rotary position embedding (V-JEPA 2) and the joint block that uses it.

Token layout: `[B, L, D]`, no cls; token `i` of the full grid is frame `i // (h·w)`, row
`(i mod h·w) // w`, column `i mod w` (frame-major, as every joint block here). A token set that is a
subset of the grid (pruned tokens) passes its flat grid indices as `positions` (`[B, L]`).

Per head, the head dimension `d` is split into three chunks of `c = 2·⌊⌊d/3⌋/2⌋` channels rotated by the
frame, row and column id; the last `d − 3c` channels are left as they are (d 64: 20+20+20, 4 kept).
Within a chunk the frequencies are `ω_i = 1 / 10000^(i / (c/2))`, `i < c/2`, and, exactly as the V-JEPA 2
reference (and transformers' `rotate_queries_or_keys`): `sin`/`cos` are laid out as two copies one after
the other (`[sin ω_0 p … sin ω_{c/2−1} p, sin ω_0 p …]`) while the rotated pairs are adjacent channels
`(x_{2j}, x_{2j+1}) → (−x_{2j+1}, x_{2j})`. A pair therefore mixes two frequencies and the map is not
norm-preserving — a known quirk kept for checkpoint compatibility; reproduced here, never "fixed".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from models.attention_maps import BlockAttention, joint_reducer, register_reducer
from models.blocks import JointSpaceTimeBlock, register_block
from models.layers import Attention, Grid


class Rotary(NamedTuple):
    """`cos`, `sin`: `[1 | B, 1, L, 3c]` tables for the rotated channels of every head."""

    cos: Tensor
    sin: Tensor


def rope_chunk(head_dim: int) -> int:
    """Channels per rotated axis: `2·⌊⌊head_dim / 3⌋ / 2⌋`."""
    return 2 * ((head_dim // 3) // 2)


def grid_positions(grid: Grid, device: torch.device | None = None) -> Tensor:
    """The flat indices `[L]` of every token of `grid` (the unpruned token set)."""
    return torch.arange(grid.tokens, device=device)


def rope_tables(positions: Tensor, grid: Grid, head_dim: int, dtype: torch.dtype) -> Rotary:
    """Tables for tokens at flat grid indices `positions` (`[L]` shared, or `[B, L]` per clip)."""
    chunk = rope_chunk(head_dim)
    per_frame = grid.h * grid.w
    frame = positions // per_frame
    rest = positions - frame * per_frame
    row = rest // grid.w
    col = rest - row * grid.w
    omega = torch.arange(chunk // 2, dtype=dtype, device=positions.device) / (chunk / 2.0)
    omega = 1.0 / 10000**omega
    cos, sin = [], []
    for ids in (frame, row, col):
        freq = ids.to(dtype).unsqueeze(-1) * omega  # [..., L, c/2]
        cos.append(torch.cat((freq.cos(), freq.cos()), dim=-1))
        sin.append(torch.cat((freq.sin(), freq.sin()), dim=-1))
    lead = (1, 1) if positions.dim() == 1 else (-1, 1)
    width = 3 * chunk
    return Rotary(
        torch.cat(cos, dim=-1).reshape(*lead, positions.shape[-1], width),
        torch.cat(sin, dim=-1).reshape(*lead, positions.shape[-1], width),
    )


def apply_rotary(x: Tensor, rope: Rotary) -> Tensor:
    """`[N, heads, L, d]` → the same with the first `3c` channels rotated (adjacent pairs)."""
    width = rope.cos.shape[-1]
    rot, rest = x[..., :width], x[..., width:]
    pairs = rot.unflatten(-1, (-1, 2))
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return torch.cat((rot * rope.cos + swapped * rope.sin, rest), dim=-1)


class RopeAttention(Attention):
    """`Attention` with 3-D RoPE applied to q and k of every head (the rest is `Attention`'s)."""

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        *,
        rope: Rotary,
        mask: Tensor | None = None,
        bias: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """`[N, L, D]` → (`[N, L, D]`, head-averaged probabilities `[N, L, L]` or None)."""
        q, k, v = self._qkv_heads(x)
        q, k = apply_rotary(q, rope), apply_rotary(k, rope)
        return self._attend_heads(q, k, v, mask=mask, bias=bias, need_weights=need_weights)


@register_block
class RopeJointBlock(JointSpaceTimeBlock):
    """Joint space–time attention with 3-D RoPE over `[B, L, D]` tokens, no cls (V-JEPA 2's encoder layer).

    `rope` (tables from `rope_tables`) is built once per forward by the model and shared by its blocks;
    when None the block builds it for the full grid. Probabilities: `[B, L, L]`, as `joint_space_time`.
    """

    pattern = "joint_space_time_rope"
    has_cls = False

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, **kwargs: Any) -> None:
        kwargs.setdefault("attn_layer", RopeAttention)
        kwargs.pop("has_cls", None)
        super().__init__(dim, num_heads, mlp_dim, has_cls=False, **kwargs)

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False, rope: Rotary | None = None
    ) -> tuple[Tensor, BlockAttention | None]:
        if rope is None:
            head_dim = x.shape[-1] // self.attn.num_heads
            rope = rope_tables(grid_positions(grid, x.device), grid, head_dim, x.dtype)
        res, probs = self.attn(self.norm1(x), rope=rope, need_weights=return_attention)
        x = x + self.drop_path(res)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, self._attention(grid, probs, has_cls=False)


register_reducer("joint_space_time_rope")(joint_reducer)
