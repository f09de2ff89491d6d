"""Every masked or split pattern equals a plain per-query computation, one query and one head at a time.

The brute force reads only the layer's weights (`qkv`, `proj`) and a Python rule saying which keys a
query may see; it builds no mask tensor and calls nothing of `models.patterns` but the block under test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from models.attention_maps import BlockAttention, reduce_attention
from models.blocks import BLOCKS, VideoBlock
from models.contract import Grid
from models.layers import Attention
from models.patterns.axial import composed_spatial
from models.patterns.dot_product import FactorisedDotProductAttention
from models.patterns.factorised import LocalGlobalAttention, to_temporal

GRID = Grid(7, 2, 3)  # 7 frames: windows and strides cut rows unevenly; h != w catches axis mix-ups
DIM, HEADS, BATCH = 16, 2, 2
Keys = Callable[[int, int], list[int]]  # (head, query) -> allowed keys


@torch.no_grad()
def brute_force(
    attn: Attention, x: Tensor, keys: Keys, bias: Callable[[int, int, int], float] | None = None
) -> tuple[Tensor, Tensor]:
    """`[N, L, D]` → (output `[N, L, D]`, probabilities `[N, heads, L, L]`, zero outside `keys`)."""
    n, length, dim = x.shape
    d = dim // attn.num_heads
    q, k, v = attn.qkv(x).split(dim, dim=-1)
    out = torch.zeros(n, length, dim, dtype=x.dtype)
    probs = torch.zeros(n, attn.num_heads, length, length, dtype=x.dtype)
    for b in range(n):
        for h in range(attn.num_heads):
            cols = slice(h * d, (h + 1) * d)
            for i in range(length):
                js = keys(h, i)
                logits = torch.stack([q[b, i, cols] @ k[b, j, cols] * d**-0.5 for j in js])
                if bias is not None:
                    logits = logits + torch.tensor([bias(h, i, j) for j in js], dtype=x.dtype)
                p = logits.softmax(dim=0)
                probs[b, h, i, js] = p
                out[b, i, cols] = sum(pj * v[b, j, cols] for pj, j in zip(p, js, strict=True))
    return attn.proj(out), probs


def _block(pattern: str, **options: int) -> VideoBlock:
    torch.manual_seed(0)
    block = BLOCKS[pattern](DIM, HEADS, 2 * DIM, **options).double().eval()
    with torch.no_grad():  # non-trivial relative biases (they start at zero)
        for name, p in block.named_parameters():
            if name.endswith("table"):
                p.normal_(0, 1)
    return block


def _temporal_input(block: VideoBlock) -> Tensor:
    x = torch.randn(BATCH, GRID.tokens, DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return block.temporal_norm1(to_temporal(x, GRID))  # type: ignore[operator]


RULES: dict[str, tuple[dict[str, int], Callable[[int, int], bool]]] = {
    "factorised_self_attention": ({}, lambda i, j: True),
    "windowed": ({"window": 5}, lambda i, j: abs(i - j) <= 2),
    "strided_sparse": ({"stride": 3}, lambda i, j: (i - j) % 3 == 0),
}


@pytest.mark.parametrize("pattern", sorted(RULES))
def test_masked_temporal_step_equals_the_brute_force(pattern: str) -> None:
    options, allowed = RULES[pattern]
    block = _block(pattern, **options)
    xt = _temporal_input(block)
    attn = block.temporal_attn
    assert isinstance(attn, Attention)
    table = getattr(block, "temporal_rel_pos", None)

    def bias(h: int, i: int, j: int) -> float:
        assert table is not None
        return float(table.table[i - j + table.max_offset, h])

    t = GRID.t
    expected, probs = brute_force(
        attn, xt, lambda _h, i: [j for j in range(t) if allowed(i, j)], bias if table is not None else None
    )
    with torch.no_grad():
        for fused in (True, False):
            attn.fused = fused
            out, weights = block._temporal(xt, t, need_weights=False)  # type: ignore[operator]
            torch.testing.assert_close(out, expected)
        out, weights = block._temporal(xt, t, need_weights=True)  # type: ignore[operator]
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, probs.mean(dim=1))
    outside = torch.tensor([[not allowed(i, j) for j in range(t)] for i in range(t)])
    assert (weights[:, outside] == 0.0).all()  # exactly zero, not merely small


def test_local_global_equals_the_brute_force_over_frames_and_summaries() -> None:
    window, stride, t = 3, 3, GRID.t  # summaries of frames {0,1,2}, {3,4,5}, {6}
    block = _block("local_global", window=window, stride=stride)
    xt = _temporal_input(block)
    summaries = torch.stack([xt[:, s : s + stride].mean(dim=1) for s in range(0, t, stride)], dim=1)
    seq = torch.cat((xt, summaries), dim=1)
    g = summaries.shape[1]

    def keys(_h: int, i: int) -> list[int]:
        if i >= t:  # summary queries: outputs dropped
            return list(range(t + g))
        return [j for j in range(t) if abs(i - j) <= window // 2] + [t + s for s in range(g)]

    expected, probs = brute_force(block.temporal_attn, seq, keys)  # type: ignore[arg-type]
    with torch.no_grad():
        out, weights = block._temporal(xt, t, need_weights=True)  # type: ignore[operator]
    torch.testing.assert_close(out, expected[:, :t])
    torch.testing.assert_close(weights, probs.mean(dim=1)[:, :t])
    far = torch.tensor([[abs(i - j) > window // 2 for j in range(t)] for i in range(t)])
    assert (weights[:, :, :t][:, far] == 0.0).all()  # frames outside the window: exactly zero
    assert (weights[:, :, t:] > 0).all()  # every summary is seen


def test_local_global_maps_spread_each_summary_over_its_frames() -> None:
    t, stride = GRID.t, 3
    local = torch.zeros(GRID.patches, t, t + 3, dtype=torch.float64)
    local[:, 0, 1] = 0.25
    local[:, 0, t + 2] = 0.75  # the last summary stands for frame 6 alone
    local[:, 1:, 0] = 0.5
    local[:, 1:, t] = 0.5  # the first summary stands for frames 0, 1, 2
    spatial = torch.full((t, GRID.patches, GRID.patches), 1 / GRID.patches, dtype=torch.float64)
    attention = LocalGlobalAttention(
        pattern="local_global", grid=GRID, probs=(local, spatial), has_cls=False, stride=stride
    )
    temporal = reduce_attention(attention).temporal[0]
    assert temporal[0].tolist() == [0, 0.25, 0, 0, 0, 0, 0.75]
    torch.testing.assert_close(
        temporal[1], torch.tensor([0.5 + 0.5 / 3, 0.5 / 3, 0.5 / 3, 0, 0, 0, 0], dtype=torch.float64)
    )


def test_factorised_dot_product_equals_per_head_brute_force() -> None:
    """Heads [0, H/2) see the same patch in every frame, heads [H/2, H) the frame's patches; one proj."""
    torch.manual_seed(0)
    block = BLOCKS["factorised_dot_product"](DIM, 4, 2 * DIM).double().eval()
    attn = block.attn
    assert isinstance(attn, FactorisedDotProductAttention)
    x = torch.randn(BATCH, GRID.tokens, DIM, dtype=torch.float64)
    n, t = GRID.patches, GRID.t

    def keys(h: int, i: int) -> list[int]:
        frame, patch = divmod(i, n)
        if h < 2:
            return [f * n + patch for f in range(t)]
        return [frame * n + p for p in range(n)]

    expected, probs = brute_force(attn, x, keys)
    with torch.no_grad():
        for fused in (True, False):
            attn.fused = fused
            out, _ = attn.split_heads(x, GRID)
            torch.testing.assert_close(out, expected)
        out, (temporal, spatial) = attn.split_heads(x, GRID, need_weights=True)
    torch.testing.assert_close(out, expected)
    per_token = probs.reshape(BATCH, 4, t, n, t, n)
    positions = torch.arange(n)
    frames = torch.arange(t)
    temporal_bf = per_token[:, :2, :, positions, :, positions].mean(
        dim=2
    )  # [n, B, T', T'] (advanced index first)
    spatial_bf = per_token[:, 2:, frames, :, frames, :].mean(dim=2)  # [T', B, n, n]
    torch.testing.assert_close(temporal, temporal_bf.transpose(0, 1).reshape(-1, t, t))
    torch.testing.assert_close(spatial, spatial_bf.transpose(0, 1).reshape(-1, n, n))


def test_axial_spatial_map_is_the_exact_composition_of_height_then_width() -> None:
    """M reproduces applying A_h then A_w to a value field; the map is the mass M's columns receive."""
    t, h, w = GRID
    g = torch.Generator().manual_seed(3)
    a_h = torch.rand(BATCH * t * w, h, h, generator=g, dtype=torch.float64).softmax(-1)  # per column c
    a_w = torch.rand(BATCH * t * h, w, w, generator=g, dtype=torch.float64).softmax(-1)  # per row a
    values = torch.randn(BATCH, t, h, w, generator=g, dtype=torch.float64)
    ah, aw = a_h.reshape(BATCH, t, w, h, h), a_w.reshape(BATCH, t, h, w, w)
    maps = composed_spatial(a_h, a_w, GRID)
    for b in range(BATCH):
        for f in range(t):
            y = torch.stack([ah[b, f, c] @ values[b, f, :, c] for c in range(w)], dim=1)  # height step
            z = torch.stack([aw[b, f, a] @ y[a] for a in range(h)], dim=0)  # then width
            m = torch.zeros(h * w, h * w, dtype=torch.float64)
            for a in range(h):
                for j in range(w):
                    for e in range(h):
                        for c in range(w):
                            m[a * w + j, e * w + c] = aw[b, f, a, j, c] * ah[b, f, c, a, e]
            torch.testing.assert_close(m @ values[b, f].reshape(-1), z.reshape(-1))
            torch.testing.assert_close(maps[b, f].reshape(-1), m.mean(dim=0))


def test_axial_block_probabilities_are_per_axis() -> None:
    block = _block("axial")
    x = torch.randn(BATCH, GRID.tokens, DIM, dtype=torch.float64)
    with torch.no_grad():
        _, attention = block(x, GRID, return_attention=True)
    assert isinstance(attention, BlockAttention)
    temporal, height, width = attention.probs
    t, h, w = GRID
    assert temporal.shape == (BATCH * h * w, t, t)
    assert height.shape == (BATCH * t * w, h, h) and width.shape == (BATCH * t * h, w, w)
