"""Temporal masks, segment pooling and the learned relative temporal position bias.

Every function builds a constant from Python ints: the grid is fixed when a graph is traced, so an exported
graph holds these as constants and nothing depends on tensor values. Masks are boolean `[L, L]` (query
rows, key columns; True = may attend) and reach `models.layers.Attention` as `mask=`, which turns them
into an additive 0 / −inf bias: a masked key gets exactly zero probability on every attention path.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _offsets(t: int, device: torch.device | None) -> Tensor:
    """`[T', T']` int64: `i − j` for query frame `i` (row) and key frame `j` (column)."""
    i = torch.arange(t, device=device)
    return i[:, None] - i[None, :]


def window_mask(t: int, window: int, *, device: torch.device | None = None) -> Tensor:
    """Centred window of `window` (odd) frames: frame `i` may attend to `j` iff `|i − j| ≤ window // 2`.

    End frames simply have fewer keys (no wrap-around, no padding keys).
    """
    return _offsets(t, device).abs() <= window // 2


def strided_mask(t: int, stride: int, *, device: torch.device | None = None) -> Tensor:
    """Every `stride`-th frame: `i` may attend to `j` iff `(i − j) mod stride == 0` (Child et al.'s strided
    pattern, non-causal). On its own it splits the clip into `stride` residue classes that exchange no
    information through attention (only through the pooled head)."""
    return _offsets(t, device).remainder(stride) == 0


def segment_count(t: int, stride: int) -> int:
    """Segments of `stride` consecutive frames covering `t` frames (the last one may be shorter)."""
    return math.ceil(t / stride)


def segment_means(
    t: int, stride: int, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> Tensor:
    """`[G, T']` averaging matrix: row `g` is `1/c_g` on frames `[g·stride, min(g·stride + stride, T'))`.

    `S @ x` averages each segment of a `[.., T', D]` sequence; `p @ S` spreads a probability on
    segment `g` evenly over its `c_g` frames (rows of `S` sum to 1, so probabilities stay normalised).
    """
    segment = torch.arange(t, device=device) // stride
    onehot = (segment[None, :] == torch.arange(segment_count(t, stride), device=device)[:, None]).to(dtype)
    return onehot / onehot.sum(dim=1, keepdim=True)


def segment_picker(
    t: int, stride: int, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> Tensor:
    """`[T', G]` one-hot: frame `f` → its segment `f // stride` (copies a segment's row to its frames)."""
    segment = torch.arange(t, device=device) // stride
    return (segment[:, None] == torch.arange(segment_count(t, stride), device=device)[None, :]).to(dtype)


def local_global_mask(t: int, window: int, stride: int, *, device: torch.device | None = None) -> Tensor:
    """`[T' + G, T' + G]` over `T'` frame tokens followed by `G` segment summaries (`segment_means`).

    Frame `i` may attend to the frames of its centred window and to every summary; summary rows (their
    outputs are dropped) may attend to everything, so no row is empty.
    """
    g = segment_count(t, stride)
    frames = torch.cat(
        (window_mask(t, window, device=device), torch.ones(t, g, dtype=torch.bool, device=device)), 1
    )
    return torch.cat((frames, torch.ones(g, t + g, dtype=torch.bool, device=device)), dim=0)


class RelativeTemporalBias(nn.Module):
    """A learned bias per head and temporal offset, added to the temporal attention logits.

    Video Swin's relative position table restricted to time: `table` `[2·max_offset + 1, heads]`,
    zero-initialised (a model starts as without it); query frame `i` and key frame `j` get
    `table[clamp(i − j, −max_offset, max_offset) + max_offset]` (beyond `max_offset` the edge row; a
    windowed block masks those keys anyway). `forward(t)` → `[heads, T', T']` for `Attention(bias=)`.
    """

    def __init__(self, num_heads: int, max_offset: int) -> None:
        super().__init__()
        if max_offset < 0:
            raise ValueError(f"max_offset must be >= 0, got {max_offset}")
        self.max_offset = max_offset
        self.table = nn.Parameter(torch.zeros(2 * max_offset + 1, num_heads))

    def forward(self, t: int) -> Tensor:
        m = self.max_offset
        index = _offsets(t, self.table.device).clamp(-m, m) + m
        return self.table[index].permute(2, 0, 1)


def resize_offset_table(table: Tensor, max_offset: int) -> Tensor:
    """A `[2·m + 1, H]` table → `[2·max_offset + 1, H]`: centre rows kept, the edge rows repeated outward
    (what `RelativeTemporalBias` does with offsets beyond its range) or the outer rows cropped."""
    m = (table.shape[0] - 1) // 2
    if m == max_offset:
        return table
    index = torch.arange(-max_offset, max_offset + 1).clamp(-m, m) + m
    return table[index]


def resize_offset_tables(state_dict: dict[str, Tensor], suffix: str, max_offset: int) -> dict[str, Tensor]:
    """Every `*{suffix}` table of a state dict resized with `resize_offset_table` (a new dict)."""
    return {k: resize_offset_table(v, max_offset) if k.endswith(suffix) else v for k, v in state_dict.items()}
