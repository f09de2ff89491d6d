"""One block protocol: every block returns its probabilities; a reducer turns them into maps."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from models.attention_maps import (
    REDUCERS,
    AttentionMaps,
    BlockAttention,
    reduce_attention,
    register_reducer,
)
from models.blocks import BLOCKS, VideoBlock, run_blocks
from models.layers import Grid

GRID = Grid(3, 2, 2)
DIM, HEADS, BATCH = 16, 2, 2


def _tokens(pattern: str, grid: Grid = GRID, batch: int = BATCH) -> Tensor:
    """Random tokens in the block's documented layout (with a cls unless the class says `has_cls = False`)."""
    g = torch.Generator().manual_seed(0)
    if pattern == "space_only":
        return torch.randn(batch * grid.t, 1 + grid.patches, DIM, generator=g)
    cls = 1 if getattr(BLOCKS[pattern], "has_cls", True) else 0
    return torch.randn(batch, cls + grid.tokens, DIM, generator=g)


def _block(pattern: str, seed: int = 0) -> VideoBlock:
    torch.manual_seed(seed)
    return BLOCKS[pattern](DIM, HEADS, 2 * DIM).eval()


def test_every_block_is_registered_under_its_pattern_and_has_a_reducer() -> None:
    assert set(BLOCKS) >= {"divided_space_time", "joint_space_time", "space_only"}
    for pattern, cls in BLOCKS.items():
        assert cls.pattern == pattern
        assert pattern in REDUCERS, f"no reducer for {pattern}"


@pytest.mark.parametrize("pattern", sorted(BLOCKS))
def test_block_returns_probabilities_and_its_reducer_gives_distributions(pattern: str) -> None:
    block, x = _block(pattern), _tokens(pattern)
    with torch.no_grad():
        y, none = block(x, GRID)
        y_attn, attention = block(x, GRID, return_attention=True)
    assert none is None and y.shape == x.shape
    torch.testing.assert_close(y, y_attn, rtol=0, atol=1e-5)
    assert isinstance(attention, BlockAttention)
    assert attention.pattern == pattern and attention.grid == GRID
    for probs in attention.probs:  # raw, head-averaged probabilities: rows sum to 1
        torch.testing.assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]))
    maps = reduce_attention(attention)
    t, h, w = GRID
    assert maps.temporal.shape == (BATCH, t, t) and maps.spatial.shape == (BATCH, t, h, w)
    torch.testing.assert_close(maps.temporal.sum(-1), torch.ones(BATCH, t))
    torch.testing.assert_close(maps.spatial.sum((-1, -2)), torch.ones(BATCH, t))


def test_run_blocks_asks_only_the_last_block_for_attention() -> None:
    blocks = [_block("divided_space_time", seed) for seed in range(3)]
    seen: list[BlockAttention | None] = []
    for b in blocks:
        b.register_forward_hook(lambda _m, _i, out: seen.append(out[1]))
    x = _tokens("divided_space_time")
    with torch.no_grad():
        y, attention = run_blocks(blocks, x, GRID, return_attention=True)
        last_in = run_blocks(blocks[:2], x, GRID)[0]
        y_last, attention_last = blocks[2](last_in, GRID, return_attention=True)
        y_plain, none = run_blocks(blocks, x, GRID)
    assert seen[:2] == [None, None] and seen[2] is attention and none is None
    assert attention is not None and attention_last is not None
    torch.testing.assert_close(y, y_last, rtol=0, atol=0)
    torch.testing.assert_close(y, y_plain, rtol=0, atol=1e-5)
    for a, b in zip(attention.probs, attention_last.probs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_joint_reducer_on_a_one_token_per_frame_grid_is_the_sequence_attention() -> None:
    """The factorised encoder's temporal transformer: `[cls; frames]` over the grid (T', 1, 1)."""
    t = 4
    probs = torch.rand(BATCH, 1 + t, 1 + t, generator=torch.Generator().manual_seed(1)).softmax(-1)
    maps = reduce_attention(BlockAttention(pattern="joint_space_time", grid=Grid(t, 1, 1), probs=(probs,)))
    frames = probs[:, 1:, 1:]
    torch.testing.assert_close(maps.temporal, frames / frames.sum(-1, keepdim=True), rtol=0, atol=0)


def test_divided_reducer_averages_the_temporal_step_over_positions() -> None:
    grid = Grid(2, 1, 2)  # two positions per frame
    temporal = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.5, 0.5]]])  # [B·n, T', T'], B = 1
    spatial = torch.full((2, 3, 3), 1 / 3)
    spatial[1, 0] = torch.tensor([0.2, 0.6, 0.2])  # frame 1's cls looks at patch 0
    maps = reduce_attention(
        BlockAttention(pattern="divided_space_time", grid=grid, probs=(temporal, spatial))
    )
    torch.testing.assert_close(maps.temporal[0], torch.tensor([[0.5, 0.5], [0.25, 0.75]]))
    torch.testing.assert_close(maps.spatial[0, 1, 0], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(maps.spatial[0, 0, 0], torch.tensor([0.5, 0.5]))


def test_space_only_temporal_is_the_identity() -> None:
    block = _block("space_only")
    with torch.no_grad():
        _, attention = block(_tokens("space_only"), GRID, return_attention=True)
    assert attention is not None
    torch.testing.assert_close(reduce_attention(attention).temporal, torch.eye(GRID.t).expand(BATCH, -1, -1))


def test_reducer_registry_refuses_duplicates_and_names_unknown_patterns() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_reducer("joint_space_time")(lambda a: AttentionMaps(a.probs[0], a.probs[0]))
    with pytest.raises(KeyError, match="no reducer"):
        reduce_attention(BlockAttention(pattern="no_such_pattern", grid=GRID, probs=()))
    assert reduce_attention(None) is None
