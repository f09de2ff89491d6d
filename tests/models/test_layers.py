"""Shared layers: fused and explicit attention agree; maps are distributions; embeddings as documented."""

from __future__ import annotations

import pytest
import torch

from models.attention_maps import frame_block_temporal, joint_maps
from models.layers import Attention, Grid, PatchEmbed, TubeletEmbed, resample_1d, sinusoid_table


@pytest.mark.parametrize("qkv_bias", ["qkv", "qv", "none"])
def test_fused_and_explicit_attention_agree(qkv_bias: str) -> None:
    torch.manual_seed(0)
    attn = Attention(48, 3, qkv_bias=qkv_bias).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(5, 17, 48)
    fused, none = attn(x)
    attn.fused = False
    explicit, _ = attn(x)
    _, weights = attn(x, need_weights=True)
    assert none is None
    torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-5)
    assert weights is not None and weights.shape == (5, 17, 17)
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, 17))


def test_qv_bias_has_no_k_bias() -> None:
    attn = Attention(8, 2, qkv_bias="qv")
    names = {n for n, _ in attn.named_parameters()}
    assert names == {"qkv.weight", "q_bias", "v_bias", "proj.weight", "proj.bias"}
    assert "k_bias" not in attn.state_dict()


def test_patch_and_tubelet_embeddings_keep_frame_major_row_major_order() -> None:
    x = torch.zeros(1, 4, 3, 16, 16)
    x[0, 2, :, 8:16, 0:8] = 1.0  # frame 2, patch row 1, col 0
    pe = PatchEmbed(num_frames=4, image_size=16, patch_size=8, in_chans=3, dim=4)
    te = TubeletEmbed(num_frames=4, image_size=16, patch_size=8, tubelet_size=2, in_chans=3, dim=4)
    with torch.no_grad():
        for m in (pe, te):
            m.proj.weight.fill_(1.0)
            m.proj.bias.zero_()
    assert torch.nonzero(pe(x)[0, :, :, 0]).tolist() == [[2, 2]]  # frame 2, patch index 1·2 + 0
    assert torch.nonzero(te(x)[0, :, :, 0]).tolist() == [[1, 2]]  # tubelet slice 1


def test_sinusoid_table_matches_the_reference_formula() -> None:
    table = sinusoid_table(10, 6)[0].double()
    pos, j = 7, 3
    angle = pos / 10000 ** (2 * (j // 2) / 6)
    assert table[pos, j].item() == pytest.approx(
        torch.cos(torch.tensor(angle, dtype=torch.float64)).item(), abs=1e-7
    )
    assert table[pos, 2].item() == pytest.approx(
        torch.sin(torch.tensor(pos / 10000 ** (2 / 6), dtype=torch.float64)).item(), abs=1e-7
    )


def test_nearest_time_resampling() -> None:
    embed = torch.arange(4.0).reshape(1, 4, 1)
    assert resample_1d(embed, 8).flatten().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_joint_maps_aggregate_frame_blocks() -> None:
    grid = Grid(2, 1, 2)  # 2 frames of 2 patches, plus cls
    probs = torch.full((1, 5, 5), 0.2)
    probs[0, 1:3] = torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0])  # frame-0 patches attend within frame 0
    maps = joint_maps(probs, grid, has_cls=True)
    torch.testing.assert_close(maps.temporal[0, 0], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(maps.temporal[0, 1], torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(maps.spatial.sum((-1, -2)), torch.ones(1, 2))
    assert frame_block_temporal(probs[:, 1:, 1:], grid).shape == (1, 2, 2)
