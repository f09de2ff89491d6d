"""Shared layers: attention (fused SDPA or explicit softmax), MLP, patch/tubelet embedding, embedding tables.

Token tensors are `[N, L, D]` (batch-like leading dim, sequence, channels). Video tensors entering an
embedding are `[B, T, C, H, W]`; an embedding returns `[B, T', h·w, D]` with patches of each frame (or
tubelet slice) in row-major `(h, w)` order, so every model starts from the same explicit grid.

Reshapes use `-1` for the batch dimension and config-fixed sizes for the rest, so the graph traces
with a dynamic batch axis (ONNX export) and no Python control flow depends on tensor values.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.contract import Grid

QkvBias = Literal["qkv", "qv", "none"]
GeluApprox = Literal["none", "tanh"]
ResampleMode = Literal["nearest", "linear", "bilinear", "trilinear", "bicubic"]


class Attention(nn.Module):
    """Multi-head self-attention over `[N, L, D]`, optionally masked or biased.

    `fused=True` uses `F.scaled_dot_product_attention`; `fused=False` computes `softmax(q kᵀ ·
    head_dim^-0.5 + bias) v` explicitly. `need_weights=True` takes the explicit path one head at a time
    and also returns the probabilities averaged over heads (`[N, L, L]`, rows sum to 1), never holding
    more than one head's map. All paths share the parameters and agree to float32 rounding.

    `mask` (bool, True = may attend) and `bias` (float, added to the scaled logits) broadcast to
    `[N, heads, L, L]` (query rows, key columns): `[L, L]` is shared by every sequence and head,
    `[heads, L, L]` per head, `[N, 1, L, L]` per sequence. A mask is an additive bias of 0 / −inf
    internally (summed with `bias` when both are given), so a masked key gets exactly zero probability.
    A query row with no allowed key (all −inf) attends to nothing, on every path: its probabilities are
    all 0 and its attention output before `proj` is 0 (what SDPA's math kernel gives), never NaN.

    `qkv_bias`: `"qkv"` a bias on q, k and v (`qkv.bias`); `"qv"` learned q and v biases with a fixed
    zero k bias (VideoMAE: `q_bias`, `v_bias`); `"none"` no bias.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        qkv_bias: QkvBias = "qkv",
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.qkv_bias_mode: QkvBias = qkv_bias
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias == "qkv")
        if qkv_bias == "qv":
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
            self.k_bias: Tensor
            self.register_buffer("k_bias", torch.zeros(dim), persistent=False)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv(self, x: Tensor) -> Tensor:
        if self.qkv_bias_mode == "qv":
            bias = torch.cat((self.q_bias, self.k_bias, self.v_bias))
            return F.linear(x, self.qkv.weight, bias)
        return self.qkv(x)

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, bias: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """`[N, L, D]` → (`[N, L, D]`, head-averaged probabilities `[N, L, L]` or None)."""
        q, k, v = self._qkv_heads(x)
        return self._attend_heads(q, k, v, mask=mask, bias=bias, need_weights=need_weights)

    def _qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """`[N, L, D]` → q, k, v, each `[N, heads, L, head_dim]`."""
        qkv = self._qkv(x).reshape(-1, x.shape[1], 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def _attend_heads(
        self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None, bias: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """`[N, heads, L, head_dim]` q, k, v → attention, `proj`: (`[N, L, D]`, probabilities or None)."""
        attn_bias, dead = additive_bias(mask, bias, q.dtype)
        weights: Tensor | None = None
        if need_weights:
            out, weights = self._per_head(q, k, v, attn_bias, dead)
        elif self.fused:
            p = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias, dropout_p=p, scale=self.scale)
        else:
            out = self.attn_drop(self._probs(q, k, attn_bias)) @ v
        if dead is not None:
            out = out.masked_fill(dead, 0.0)
        out = out.transpose(1, 2).reshape(-1, q.shape[2], self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(out)), weights

    def _probs(self, q: Tensor, k: Tensor, attn_bias: Tensor | None) -> Tensor:
        logits = (q * self.scale) @ k.transpose(-2, -1)
        if attn_bias is not None:
            logits = logits + attn_bias
        return logits.softmax(dim=-1)

    def _per_head(
        self, q: Tensor, k: Tensor, v: Tensor, attn_bias: Tensor | None, dead: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One head at a time: peak memory one `[N, L, L]` map, not heads × that (ViViT-B: 12× less)."""
        outs = []
        weights: Tensor | None = None
        heads = (-1, self.num_heads, -1, -1)  # a shared heads axis (size 1) expanded as a view
        attn_bias = None if attn_bias is None else attn_bias.expand(heads)
        dead = None if dead is None else dead.expand(heads)
        for h in range(self.num_heads):
            probs = self._probs(q[:, h], k[:, h], None if attn_bias is None else attn_bias[:, h])
            if dead is not None:
                probs = probs.masked_fill(dead[:, h], 0.0)
            outs.append(self.attn_drop(probs) @ v[:, h])
            weights = probs if weights is None else weights + probs
        assert weights is not None
        return torch.stack(outs, dim=1), weights / self.num_heads


def additive_bias(
    mask: Tensor | None, bias: Tensor | None, dtype: torch.dtype
) -> tuple[Tensor | None, Tensor | None]:
    """`mask` (bool, True = may attend) and/or `bias` (float) → one additive `[N|1, heads|1, L, L]` bias.

    Also returns `dead` `[N|1, heads|1, L, 1]`: True for query rows with no allowed key. Their bias row
    is set to 0 (so no kernel sees a row of −inf and none gives NaN); callers zero their output. Both
    None when neither `mask` nor `bias` is given. Shapes only, no branching on values (ONNX-safe).
    """
    if mask is None and bias is None:
        return None, None
    total: Tensor | None = None
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be bool (True = may attend), got {mask.dtype}; pass float biases as bias="
            )
        total = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
    if bias is not None:
        total = bias.to(dtype) if total is None else total + bias.to(dtype)
    assert total is not None
    if total.dim() > 4 or total.dim() < 2:
        raise ValueError(f"mask/bias must broadcast to [N, heads, L, L], got shape {list(total.shape)}")
    total = total.reshape((1,) * (4 - total.dim()) + tuple(total.shape))
    dead = total.amax(dim=-1, keepdim=True) == float("-inf")
    return total.masked_fill(dead, 0.0), dead


class Mlp(nn.Module):
    """`fc1 → GELU → fc2`; GELU exact (`approximate="none"`) or tanh-approximate (ViViT/scenic)."""

    def __init__(
        self, dim: int, hidden_dim: int, *, approximate: GeluApprox = "none", drop: float = 0.0
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate=approximate)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class PatchEmbed(nn.Module):
    """Per-frame patches (TimeSformer): Conv2d, kernel = stride = patch.

    `[B, T, C, H, W]` → `[B, T, h·w, D]`, patches in row-major `(h, w)` order.
    """

    def __init__(self, *, num_frames: int, image_size: int, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        side = image_size // patch_size
        self.grid = Grid(num_frames, side, side)
        self.in_chans, self.image_size, self.dim = in_chans, image_size, dim
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        size = self.image_size
        x = self.proj(x.reshape(-1, self.in_chans, size, size))  # [B·T, D, h, w]
        return x.flatten(2).transpose(1, 2).reshape(-1, self.grid.t, self.grid.patches, self.dim)


class TubeletEmbed(nn.Module):
    """Tubelets (ViViT, VideoMAE): Conv3d, kernel = stride = `(tubelet, patch, patch)`.

    `[B, T, C, H, W]` → `[B, T/tubelet, h·w, D]`, patches in row-major `(h, w)` order.
    """

    def __init__(
        self, *, num_frames: int, image_size: int, patch_size: int, tubelet_size: int, in_chans: int, dim: int
    ) -> None:
        super().__init__()
        side = image_size // patch_size
        self.grid = Grid(num_frames // tubelet_size, side, side)
        self.dim = dim
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x.transpose(1, 2))  # [B, D, T', h, w]
        return x.flatten(3).permute(0, 2, 3, 1).reshape(-1, self.grid.t, self.grid.patches, self.dim)


def prepend_cls(cls: Tensor, tokens: Tensor) -> Tensor:
    """`[1, 1, D]` cls and `[N, L, D]` tokens → `[N, 1 + L, D]`, the cls copied to every sequence."""
    return torch.cat((cls.expand(tokens.shape[0], -1, -1), tokens), dim=1)


def sinusoid_table(num_positions: int, dim: int) -> Tensor:
    """VideoMAE's fixed table `[1, n, d]`: angle = pos / 10000^(2⌊j/2⌋/d); sin on even j, cos on odd j.

    Built in float64 with numpy (as the reference), returned as float32 on the CPU.
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angles = pos / np.power(10000, 2 * (j // 2) / dim)
    table = np.empty_like(angles)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(table).to(torch.float32).unsqueeze(0)


def resample_1d(embed: Tensor, length: int, mode: ResampleMode = "nearest") -> Tensor:
    """`[1, n, D]` → `[1, length, D]` by `F.interpolate` along the sequence (TimeSformer: nearest)."""
    if embed.shape[1] == length:
        return embed
    align = False if mode in ("linear",) else None
    out = F.interpolate(embed.transpose(1, 2), size=length, mode=mode, align_corners=align)
    return out.transpose(1, 2)


def resample_2d(
    embed: Tensor, old: tuple[int, int], new: tuple[int, int], mode: ResampleMode = "nearest"
) -> Tensor:
    """`[1, h·w, D]` on grid `old` → `[1, h'·w', D]` on grid `new` (row-major), by `F.interpolate`."""
    if tuple(old) == tuple(new):
        return embed
    dim = embed.shape[-1]
    grid = embed.reshape(1, old[0], old[1], dim).permute(0, 3, 1, 2)
    align = False if mode in ("bilinear", "bicubic") else None
    out = F.interpolate(grid, size=new, mode=mode, align_corners=align)
    return out.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], dim)


def resample_3d(embed: Tensor, old: Grid, new: Grid, mode: ResampleMode = "trilinear") -> Tensor:
    """`[1, t·h·w, D]` on grid `old` → `[1, t'·h'·w', D]` on grid `new` (`(t, h, w)` order)."""
    if tuple(old) == tuple(new):
        return embed
    dim = embed.shape[-1]
    grid = embed.reshape(1, old.t, old.h, old.w, dim).permute(0, 4, 1, 2, 3)
    align = False if mode == "trilinear" else None
    out = F.interpolate(grid, size=(new.t, new.h, new.w), mode=mode, align_corners=align)
    return out.permute(0, 2, 3, 4, 1).reshape(1, new.tokens, dim)


def square_side(n: int, what: str) -> int:
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{what}: {n} positions do not form a square grid")
    return side
