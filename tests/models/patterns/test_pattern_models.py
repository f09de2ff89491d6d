"""Every pattern's tiny model: builds, maps are distributions, frame order matters, saves and loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import models
from models.patterns.multiscale import to_frame_grid

#: `*_tiny` constructor → the `attention` value its card must report (issue 15's table).
TINY = {
    "factorised_self_attention_tiny": "factorised_self_attention",
    "factorised_dot_product_tiny": "factorised_dot_product",
    "axial_tiny": "axial",
    "local_global_tiny": "local_global",
    "strided_sparse_tiny": "strided_sparse",
    "windowed_tiny": "windowed",
    "multiscale_tiny": "multiscale",
    "timesformer_tiny_relpos": "divided_space_time",
}


def _model(name: str) -> models.VideoModel:
    torch.manual_seed(0)
    model = models.create_model(name).eval()
    with torch.no_grad():  # relative biases start at zero: make them matter
        for key, p in model.named_parameters():
            if key.endswith("table"):
                p.normal_(0, 0.5)
    return model


def _clip(model: models.VideoModel, batch: int = 2, seed: int = 0) -> torch.Tensor:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, c.num_frames, 3, c.image_size, c.image_size, generator=g)


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_model_runs_and_gives_distributions(name: str) -> None:
    model = _model(name)
    c = model.config
    assert model.card.attention == TINY[name]
    assert 4 <= c.num_frames <= 8 and 32 <= c.image_size <= 64
    x = _clip(model, batch=3)
    with torch.no_grad():
        fused = model(x)
        out = model(x, return_attention=True)
        model.set_fused_attn(False)
        explicit = model(x)
        reversed_ = model(x.flip(1))
    t, h, w = model.grid
    assert out.temporal_attention is not None and out.spatial_attention is not None
    assert out.temporal_attention.shape == (3, t, t) and out.spatial_attention.shape == (3, t, h, w)
    assert (out.temporal_attention >= 0).all() and (out.spatial_attention >= 0).all()
    torch.testing.assert_close(out.temporal_attention.sum(-1), torch.ones(3, t))
    torch.testing.assert_close(out.spatial_attention.sum((-1, -2)), torch.ones(3, t))
    torch.testing.assert_close(fused.logits, explicit.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused.logits, out.logits, rtol=0, atol=1e-5)
    assert (reversed_.logits - explicit.logits).abs().max() > 1e-4  # frame order matters


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_and_load_round_trip(name: str, tmp_path: Path) -> None:
    model = _model(name)
    x = _clip(model)
    folder = models.save_pretrained(model, tmp_path / name)
    loaded = models.load_pretrained(folder)
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.card == model.card
    with torch.no_grad():
        a, b = model(x, return_attention=True), loaded(x, return_attention=True)
    for left, right in zip(a, b, strict=True):
        torch.testing.assert_close(left, right, rtol=0, atol=0)


@pytest.mark.parametrize(("name", "allowed"), [
    ("windowed_tiny", lambda i, j: abs(i - j) <= 1),
    ("strided_sparse_tiny", lambda i, j: (i - j) % 2 == 0),
])  # fmt: skip
def test_frames_outside_the_window_or_stride_get_exactly_zero(name: str, allowed: object) -> None:
    model = _model(name)
    with torch.no_grad():
        temporal = model(_clip(model), return_attention=True).temporal_attention
    assert temporal is not None and callable(allowed)
    t = model.grid.t
    outside = torch.tensor([[not allowed(i, j) for j in range(t)] for i in range(t)])
    assert (temporal[:, outside] == 0.0).all() and (temporal[:, ~outside] > 0).all()


def test_checkpoints_load_at_another_frame_count(tmp_path: Path) -> None:
    """Time tables are resampled (pattern and multiscale models) and bias tables resized (TimeSformer)."""
    for name in ("windowed_tiny", "multiscale_tiny", "timesformer_tiny_relpos"):
        folder = models.save_pretrained(_model(name), tmp_path / name)
        loaded = models.load_pretrained(folder, num_frames=4)
        assert loaded.grid.t == 4 and loaded.card.input.num_frames == 4
        with torch.no_grad():
            out = loaded(_clip(loaded), return_attention=True)
        assert out.temporal_attention is not None and out.temporal_attention.shape == (2, 4, 4)


def test_relative_bias_at_zero_is_plain_divided_attention() -> None:
    torch.manual_seed(0)
    relpos = models.create_model("timesformer_tiny_relpos").eval()
    plain = models.create_model("timesformer_tiny", num_frames=8, num_heads=4).eval()
    state = {k: v for k, v in relpos.state_dict().items() if not k.endswith("temporal_rel_pos.table")}
    plain.load_state_dict(state, strict=True)
    x = _clip(plain)
    with torch.no_grad():
        torch.testing.assert_close(relpos(x).logits, plain(x).logits, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="divided_space_time"):
        models.create_model("timesformer_tiny_relpos", attention="joint_space_time")


def test_multiscale_map_brings_each_branch_to_the_frame_grid() -> None:
    coarse = torch.tensor([[[0.25, 0.75, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]])  # 3 tokens of stride 3
    fine = to_frame_grid(coarse, 7, 3)  # tokens stand for frames {0,1,2}, {3,4,5}, {6}
    assert fine.shape == (1, 7, 7)
    torch.testing.assert_close(fine.sum(-1), torch.ones(1, 7))
    torch.testing.assert_close(fine[0, 1], torch.tensor([1 / 12, 1 / 12, 1 / 12, 0.25, 0.25, 0.25, 0.0]))
    torch.testing.assert_close(fine[0, 4], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(fine[0, 6], torch.tensor([0.0, 0.0, 0.0, 1 / 6, 1 / 6, 1 / 6, 0.5]))


def test_base_configurations() -> None:
    """Published shapes, and parameter counts that follow from each pattern's definition (meta device)."""

    def blocks(name: str) -> int:
        with torch.device("meta"):
            model = models.create_model(name)
        return sum(p.numel() for n, p in model.named_parameters() if "blocks." in n)

    d = 768
    attention = 4 * d * d + 4 * d + 2 * d  # qkv + proj (with biases) + its LayerNorm
    model1 = blocks("vivit_b_16x2_k400")  # ViViT Model 1: 12 plain ViT blocks
    assert blocks("factorised_dot_product_base_32x224") == model1  # Model 4: the same parameters
    assert blocks("factorised_self_attention_base_32x224") == model1 + 12 * attention  # + temporal MSA
    assert blocks("axial_base_8x224") == model1 + 12 * 2 * attention  # + width and time attentions
    assert blocks("windowed_base_32x224") == model1 + 12 * (attention + 9 * 12)  # + a [9, heads] table
    assert blocks("timesformer_base_8x224_relpos") == blocks("timesformer_base_8x224") + 12 * 15 * 12
    with torch.device("meta"):
        built = {n: models.create_model(n) for n in models.list_models() if "_base_" in n}
    patterns = {m.card.attention for m in built.values()}
    assert patterns >= set(TINY.values())
    for name in (
        "factorised_self_attention_base_32x224",
        "windowed_base_32x224",
        "strided_sparse_base_32x224",
    ):
        assert built[name].grid == (16, 14, 14) and built[name].config.embed_dim == d
    assert built["axial_base_8x224"].grid == (8, 14, 14)
    assert [b.grid.t for b in built["multiscale_base_16x224"].branches] == [16, 8, 4]
