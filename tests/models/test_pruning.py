"""Temporal relevance allocation: joint models on a fixed share of their tokens, maps on the full grid."""

from __future__ import annotations

import pytest
import torch

from models.pruning import TokenPruned, kept_count, prune_tokens, relevance, select
from models.registry import create_model

JOINT = ["vivit_tiny", "videomae_tiny", "vjepa2_tiny"]


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name).eval()


def _x(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", JOINT)
def test_keep_ratio_one_is_the_unpruned_model_bit_for_bit(name: str) -> None:
    model = _model(name)
    pruned = TokenPruned(model, 1.0)  # the pruning path itself, with k = L
    assert pruned.keep == model.grid.tokens
    x = _x()
    with torch.no_grad():
        ref, got = model(x, return_attention=True), pruned(x, return_attention=True)
    for a, b in zip(ref, got, strict=True):
        if name == "videomae_tiny":
            # the same values: VideoMAE runs on a strided view of its embedding, the pruned path on a
            # gathered (contiguous) copy, and reductions over the two layouts round differently
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        else:
            assert torch.equal(a, b)
    assert prune_tokens(model, 1.0) is model  # what `vtserve export --keep-ratio 1.0` exports


@pytest.mark.parametrize("name", JOINT)
@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.25])
def test_pruned_maps_cover_the_grid_with_zeros_at_pruned_tokens(name: str, ratio: float) -> None:
    model = _model(name)
    pruned = TokenPruned(model, ratio)
    grid = model.grid
    assert pruned.keep == round(ratio * grid.tokens)
    x = _x()
    with torch.no_grad():
        out = pruned(x, return_attention=True)
        unpruned = model(x).logits
        kept = select(relevance(model.patch_embed(x).reshape(2, grid.tokens, -1), grid), pruned.keep)
    assert out.temporal_attention is not None and out.spatial_attention is not None
    assert out.temporal_attention.shape == (2, grid.t, grid.t)
    assert out.spatial_attention.shape == (2, *grid)
    mask = torch.zeros(2, grid.tokens, dtype=torch.bool).scatter(1, kept, True)
    spatial = out.spatial_attention.reshape(2, grid.tokens)
    assert torch.all(spatial[~mask] == 0) and torch.all(spatial[mask] >= 0)
    has_kept = mask.reshape(2, grid.t, grid.patches).any(-1)  # frames with at least one kept token
    sums = spatial.reshape(2, grid.t, grid.patches).sum(-1)
    torch.testing.assert_close(sums[has_kept], torch.ones(int(has_kept.sum())))
    torch.testing.assert_close(out.temporal_attention.sum(-1)[has_kept], torch.ones(int(has_kept.sum())))
    assert torch.all(out.temporal_attention[:, :, ~has_kept.any(0)] == 0)  # no kept key: zero column
    assert not torch.allclose(out.logits, unpruned)  # it really ran on fewer tokens


def test_select_keeps_the_k_best_with_ties_to_the_lower_index() -> None:
    scores = torch.tensor([[0.5, 0.1, 0.5, 0.9, 0.1, 0.5, 0.0, 0.5]])
    assert select(scores, 3).tolist() == [[0, 2, 3]]  # 0.9, then the first two 0.5s
    assert select(scores, 1).tolist() == [[3]]
    assert select(scores, 8).tolist() == [list(range(8))]
    assert select(torch.zeros(2, 6), 2).tolist() == [[0, 1], [0, 1]]
    random = torch.rand(4, 50, generator=torch.Generator().manual_seed(1))
    expected = random.argsort(dim=1, descending=True, stable=True)[:, :20].sort(dim=1).values
    assert torch.equal(select(random, 20), expected)


def test_relevance_is_the_change_from_the_previous_slice() -> None:
    """A still background with one patch that changes: that patch, in its slice and in the first, wins."""
    from models.layers import Grid

    grid = Grid(3, 2, 2)
    content = torch.ones(1, 3, 4, 5)
    content[0, 2, 1] += 2.0  # patch 1 changes between slices 1 and 2
    content[0, 1, 3] -= 0.5  # patch 3 changes between slices 0 and 1 (and back)
    scores = relevance(content.reshape(1, grid.tokens, 5), grid).reshape(3, 4)
    torch.testing.assert_close(scores[2], torch.tensor([0.0, 2.0, 0.0, 0.5]))
    torch.testing.assert_close(scores[1], torch.tensor([0.0, 0.0, 0.0, 0.5]))
    torch.testing.assert_close(scores[0], scores[1])  # the first slice takes the second's score
    assert relevance(content[:, :1].reshape(1, 4, 5), Grid(1, 2, 2)).eq(0).all()


def test_a_static_camera_clip_keeps_the_moving_object() -> None:
    """A bright square crossing a still, flat frame: the kept tokens are exactly the square's tokens."""
    model = _model("vivit_tiny")  # 4 frames of 32², tubelets 2×8×8: grid (2, 4, 4)
    video = torch.full((1, 4, 3, 32, 32), -1.0)
    for f in range(4):
        video[0, f, :, 8:16, 4 * f : 4 * f + 8] = 1.0  # row 1 of patches; x from 4f to 4f + 8
    # slice 0 (frames 0-1) shows it in patch columns 0-1, slice 1 (frames 2-3) in columns 1-2: the
    # tokens that change are columns 0-2 of row 1 in slice 1, and (same score) in slice 0
    pruned = TokenPruned(model, 6 / 32)
    with torch.no_grad():
        content = model.patch_embed(video).reshape(1, 32, -1)
        kept = select(relevance(content, model.grid), pruned.keep)
        out = pruned(video, return_attention=True)
    assert kept[0].tolist() == [4, 5, 6, 16 + 4, 16 + 5, 16 + 6]
    assert out.spatial_attention is not None
    spatial = out.spatial_attention[0]  # [T', h, w]
    assert spatial[:, 0].eq(0).all() and spatial[:, 2:].eq(0).all() and spatial[:, 1, 3].eq(0).all()
    torch.testing.assert_close(spatial.sum((-1, -2)), torch.ones(2))


@pytest.mark.parametrize("name", ["timesformer_tiny", "videoprism_tiny", "vivit_fe_tiny"])
def test_models_without_joint_attention_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="joint-attention"):
        TokenPruned(_model(name), 0.5)


def test_keep_ratio_is_validated() -> None:
    assert kept_count(64, 0.5) == 32 and kept_count(64, 0.001) == 1 and kept_count(64, 1.0) == 64
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="keep_ratio"):
            kept_count(64, bad)
