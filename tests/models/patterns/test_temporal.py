"""Temporal masks, segment pooling and the relative bias against plain per-query Python rules."""

from __future__ import annotations

import pytest
import torch

from models.patterns.temporal import (
    RelativeTemporalBias,
    local_global_mask,
    resize_offset_table,
    segment_means,
    segment_picker,
    strided_mask,
    window_mask,
)


@pytest.mark.parametrize(("t", "window"), [(1, 1), (5, 1), (5, 3), (8, 5), (4, 9)])
def test_window_mask_is_the_centred_window(t: int, window: int) -> None:
    expected = [[abs(i - j) <= window // 2 for j in range(t)] for i in range(t)]
    assert window_mask(t, window).tolist() == expected


@pytest.mark.parametrize(("t", "stride"), [(6, 1), (6, 2), (7, 3), (8, 4), (3, 5)])
def test_strided_mask_keeps_every_kth_frame(t: int, stride: int) -> None:
    expected = [[(i - j) % stride == 0 for j in range(t)] for i in range(t)]
    assert strided_mask(t, stride).tolist() == expected


@pytest.mark.parametrize(("t", "stride"), [(8, 2), (7, 3), (3, 4), (5, 1)])
def test_segment_means_average_consecutive_frames(t: int, stride: int) -> None:
    x = torch.randn(t, 4, dtype=torch.float64)
    means = segment_means(t, stride, dtype=torch.float64) @ x
    starts = range(0, t, stride)
    expected = torch.stack([x[s : s + stride].mean(dim=0) for s in starts])
    torch.testing.assert_close(means, expected)
    picker = segment_picker(t, stride)
    assert picker.tolist() == [[float(f // stride == g) for g in range(len(starts))] for f in range(t)]


def test_local_global_mask_rows() -> None:
    t, window, stride = 7, 3, 3  # summaries of frames {0,1,2}, {3,4,5}, {6}
    mask = local_global_mask(t, window, stride)
    assert mask.shape == (t + 3, t + 3)
    for i in range(t):
        allowed = {j for j in range(t) if abs(i - j) <= 1} | {t, t + 1, t + 2}
        assert {j for j in range(t + 3) if mask[i, j]} == allowed
    assert mask[t:].all()  # summary queries (dropped) may attend to everything


def test_relative_bias_indexes_offsets_and_clamps_beyond_its_range() -> None:
    bias = RelativeTemporalBias(num_heads=2, max_offset=2)
    with torch.no_grad():
        bias.table.copy_(torch.arange(10, dtype=torch.float32).reshape(5, 2))
    out = bias(6)  # [heads, T', T']
    for h in range(2):
        for i in range(6):
            for j in range(6):
                row = max(-2, min(2, i - j)) + 2
                assert out[h, i, j].item() == bias.table[row, h].item()


def test_resize_offset_table_keeps_offsets() -> None:
    table = torch.arange(10, dtype=torch.float32).reshape(5, 2)  # offsets -2..2
    grown = resize_offset_table(table, 3)  # offsets -3..3: the edge rows repeated
    assert grown[1:6].equal(table) and grown[0].equal(table[0]) and grown[6].equal(table[4])
    assert resize_offset_table(table, 1).equal(table[1:4])
    small = RelativeTemporalBias(2, 2)
    with torch.no_grad():
        small.table.copy_(table)
    big = RelativeTemporalBias(2, 3)
    with torch.no_grad():
        big.table.copy_(grown)
    torch.testing.assert_close(big(8), small(8), rtol=0, atol=0)  # the same bias at any frame count
