"""Video Swin's layers: window attention with a 3-D relative position bias, the (shifted-)window block,
the 3-D patch embedding, patch merging and a stage.

Token layout everywhere: `[B, T'·h·w, C]`, frame-major, row-major (index `t·h·w + i·w + j`) on the
stage's grid `(T', h, w)`. Parameter names are the official repository's (`attn.qkv`, `attn.proj`,
`attn.relative_position_bias_table`, `mlp.fc1`, `mlp.fc2`, `downsample.{norm, reduction}`), so an
official checkpoint needs only its `backbone.` prefix removed.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.blocks import _PreNorm, register_block
from models.contract import Grid
from models.layers import Attention
from models.swin.maps import PATTERN, ShiftedWindowAttention, combine
from models.swin.windows import (
    Triple,
    clamp_window,
    grid_size,
    padded_size,
    relative_position_index,
    shift_bias,
    table_rows,
    window_partition,
    window_reverse,
)


class WindowAttention(Attention):
    """`Attention` with Video Swin's learned relative position bias for windows up to `window`.

    `relative_position_bias_table` `[(2Wd−1)(2Wh−1)(2Ww−1), heads]`; the index `[N, N]` is rebuilt from
    `window` (a buffer not saved with the weights). For a clamped window of `n` tokens the bias is
    `table[index[:n, :n]]` — the first `n` rows and columns of the full window's index, as both reference
    implementations do (exact offsets when only the temporal axis is clamped; the references' values
    otherwise, reproduced for checkpoint fidelity).
    """

    def __init__(self, dim: int, num_heads: int, *, window: Triple, **kwargs: Any) -> None:
        super().__init__(dim, num_heads, **kwargs)
        self.window_size = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros(table_rows(window), num_heads))
        self.relative_position_index: Tensor
        index = torch.from_numpy(np.array(relative_position_index(window)))
        self.register_buffer("relative_position_index", index, persistent=False)

    def relative_bias(self, window: Triple) -> Tensor:
        """`[heads, n, n]` for a (clamped) window of `n = Wd·Wh·Ww` tokens."""
        n = math.prod(window)
        index = self.relative_position_index[:n, :n].reshape(-1)
        return self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)


@register_block
class ShiftedWindowBlock(_PreNorm):
    """Video Swin block over `[B, T'·h·w, C]`: `x + W-MSA(norm1(x))`, then `x + MLP(norm2(x))`.

    W-MSA: clamp `window` (default the published K400 8×7×7) and the shift to the grid, zero-pad to
    window multiples, roll by `−shift` (when `shifted`, shift = window // 2), attend within windows with
    the relative position bias and, when rolled, the −100 region mask — both additive biases on
    `Attention` — then undo partition, roll and padding (`models.swin.windows`). Its `BlockAttention` is
    a `ShiftedWindowAttention`.
    """

    pattern = PATTERN
    has_cls: ClassVar[bool] = False  # tokens are `[B, T'·h·w, C]`, no cls
    attn: WindowAttention

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        *,
        window: Triple = (8, 7, 7),
        shifted: bool = False,
        norm_eps: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            dim,
            num_heads,
            mlp_dim,
            norm_eps=norm_eps,
            attn_layer=WindowAttention,
            attn_options={"window": window},
            **kwargs,
        )
        self.window_size = window
        self.shift_size: Triple = (window[0] // 2, window[1] // 2, window[2] // 2) if shifted else (0, 0, 0)

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, ShiftedWindowAttention | None]:
        window, shift = clamp_window(grid_size(grid), self.window_size, self.shift_size)
        out, probs = self._window_attention(self.norm1(x), grid, window, shift, return_attention)
        x = x + self.drop_path(out)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        if probs is None:
            return x, None
        attention = ShiftedWindowAttention(
            pattern=self.pattern, grid=grid, probs=(probs,), windows=(window,), shifts=(shift,), has_cls=False
        )
        return x, attention

    def _window_attention(
        self, x: Tensor, grid: Grid, window: Triple, shift: Triple, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        size = grid_size(grid)
        padded = padded_size(size, window)
        channels = x.shape[-1]
        volume = x.reshape(-1, *size, channels)
        pad = [p - s for p, s in zip(padded, size, strict=True)]
        if any(pad):
            volume = F.pad(volume, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        rolled = any(shift)
        if rolled:
            volume = torch.roll(volume, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
        bias = self.attn.relative_bias(window).unsqueeze(0)  # [1, heads, N, N]
        if rolled:  # one bias per window: [nW, heads, N, N], repeated for every clip of the batch
            bias = bias + shift_bias(padded, window, shift, bias)
            bias = bias.unsqueeze(0).expand(x.shape[0], -1, -1, -1, -1).flatten(0, 1)
        out, probs = self.attn(window_partition(volume, padded, window), bias=bias, need_weights=need_weights)
        volume = window_reverse(out, padded, window)
        if rolled:
            volume = torch.roll(volume, shifts=shift, dims=(1, 2, 3))
        volume = volume[:, : size[0], : size[1], : size[2]]
        return volume.reshape(-1, grid.tokens, channels), probs


class PatchEmbed3D(nn.Module):
    """Conv3d with kernel = stride = `patch` `(t, p, p)`, then LayerNorm (`norm`, when `patch_norm`).

    `[B, T, C, H, W]` → `[B, T'·h·w, D]` (frame-major). The input contract makes T and H, W multiples of
    the patch, so no padding is needed (the references pad at the end otherwise).
    """

    def __init__(self, *, patch: Triple, in_chans: int, dim: int, patch_norm: bool, norm_eps: float) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_chans, dim, kernel_size=patch, stride=patch)
        self.norm: nn.Module = nn.LayerNorm(dim, eps=norm_eps) if patch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x.transpose(1, 2))  # [B, D, T', h, w]
        return self.norm(x.flatten(2).transpose(1, 2))


class PatchMerging(nn.Module):
    """`[B, T'·h·w, C]` → `[B, T'·(h/2)·(w/2), 2C]`: each 2×2 patch neighbourhood concatenated in the
    order (row, column) offsets (0,0), (1,0), (0,1), (1,1), LayerNorm(4C), Linear(4C → 2C, no bias).
    T' is kept. `h` and `w` are even (the input contract: image size a multiple of the last cell)."""

    def __init__(self, dim: int, *, norm_eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=norm_eps)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor, grid: Grid) -> Tensor:
        channels = x.shape[-1]
        v = x.reshape(-1, grid.t, grid.h, grid.w, channels)
        parts = (v[:, :, 0::2, 0::2], v[:, :, 1::2, 0::2], v[:, :, 0::2, 1::2], v[:, :, 1::2, 1::2])
        merged = torch.cat(parts, dim=-1).reshape(-1, grid.t * (grid.h // 2) * (grid.w // 2), 4 * channels)
        return self.reduction(self.norm(merged))


class SwinStage(nn.Module):
    """`depth` blocks on `grid`, alternating regular (even index) and shifted (odd) windows, then
    `downsample` (patch merging) unless it is the last stage."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        grid: Grid,
        window: Triple,
        drop_paths: list[float],
        downsample: bool,
        block_kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.grid = grid
        self.blocks = nn.ModuleList(
            ShiftedWindowBlock(
                dim, num_heads, mlp_dim, window=window, shifted=j % 2 == 1, drop_path=rate, **block_kwargs
            )
            for j, rate in enumerate(drop_paths)
        )
        norm_eps = float(block_kwargs.get("norm_eps", 1e-5))
        self.downsample = PatchMerging(dim, norm_eps=norm_eps) if downsample else None

    def forward(
        self, x: Tensor, *, attention_blocks: int = 0
    ) -> tuple[Tensor, ShiftedWindowAttention | None]:
        """Run the stage; the last `attention_blocks` blocks also return their attention (combined)."""
        collected: list[ShiftedWindowAttention] = []
        first_wanted = len(self.blocks) - attention_blocks
        for j, block in enumerate(self.blocks):
            x, attention = block(x, self.grid, return_attention=j >= first_wanted)
            if attention is not None:
                collected.append(attention)
        if self.downsample is not None:
            x = self.downsample(x, self.grid)
        return x, combine(collected)
