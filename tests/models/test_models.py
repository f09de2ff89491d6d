"""Every registered model: builds, runs, gives distributions as maps, learns (no frozen-cls bug)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
import torch

import models

TINY_NAMES = [n for n in models.list_models() if n.endswith("_tiny") or "_tiny_" in n]


def _shrunk(name: str) -> models.VideoModel:
    """The named model with its structure (attention pattern, tubelets, activations) at tiny size."""
    with torch.device("meta"):
        config = models.create_model(name).config
    tub, patch = config.tubelet_size, min(config.patch_size, 8)
    wanted: dict[str, Any] = {
        "num_frames": 2 * tub,
        "image_size": 2 * patch,
        "patch_size": patch,
        "embed_dim": 16,
        "depth": 1,
        "num_heads": 2,
        "mlp_dim": 32,
        "temporal_depth": 1,
    }
    names = {f.name for f in fields(config)}
    return models.create_model(name, **{k: v for k, v in wanted.items() if k in names})


def _input(model: models.VideoModel, batch: int = 2, seed: int = 0) -> torch.Tensor:
    c = model.config
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, c.num_frames, c.in_chans, c.image_size, c.image_size, generator=g)


@pytest.mark.parametrize("name", models.list_models())
def test_every_registered_model_runs_at_tiny_size(name: str) -> None:
    torch.manual_seed(0)
    model = _shrunk(name).eval()
    with torch.no_grad():
        out = model(_input(model), return_attention=True)
    t, h, w = model.grid
    assert out.logits.shape == (2, model.card.num_classes) and torch.isfinite(out.logits).all()
    assert out.temporal_attention is not None and out.temporal_attention.shape == (2, t, t)
    assert out.spatial_attention is not None and out.spatial_attention.shape == (2, t, h, w)
    assert model.card.input.grid == model.grid


def test_published_configurations() -> None:
    """Parameter counts of the full-size models (built on the meta device: nothing allocated)."""
    expected = {  # transformers' parameter counts for the same configurations (400 classes)
        "timesformer_base_8x224": 121_566_352,
        "videomae_base_16x224": 86_534_800,
        "vivit_b_16x2_k400": 88_954_000,
    }
    for name, count in expected.items():
        with torch.device("meta"):
            model = models.create_model(name)
        assert sum(p.numel() for p in model.parameters()) == count, name
    with torch.device("meta"):
        hr = models.create_model("timesformer_hr_16x448")
        fe = models.create_model("vivit_b_fe_k400")
    assert hr.grid == (16, 28, 28) and fe.grid == (16, 14, 14)
    assert len(fe.blocks) == 12 and len(fe.temporal_blocks) == 4


@pytest.mark.parametrize("name", TINY_NAMES)
def test_fused_and_explicit_paths_agree(name: str) -> None:
    torch.manual_seed(0)
    model = models.create_model(name).eval()
    x = _input(model)
    with torch.no_grad():
        fused = model(x)
        with_maps = model(x, return_attention=True)
        model.set_fused_attn(False)
        explicit = model(x)
    assert fused.temporal_attention is None and fused.spatial_attention is None
    torch.testing.assert_close(fused.logits, explicit.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused.logits, with_maps.logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", TINY_NAMES)
def test_attention_maps_are_distributions(name: str) -> None:
    torch.manual_seed(0)
    model = models.create_model(name).eval()
    with torch.no_grad():
        out = model(_input(model, batch=3), return_attention=True)
    assert out.temporal_attention is not None and out.spatial_attention is not None
    t = model.grid.t
    assert (out.temporal_attention >= 0).all() and (out.spatial_attention >= 0).all()
    torch.testing.assert_close(out.temporal_attention.sum(-1), torch.ones(3, t))
    torch.testing.assert_close(out.spatial_attention.sum((-1, -2)), torch.ones(3, t))
    if getattr(model.config, "attention", None) == "space_only":
        torch.testing.assert_close(out.temporal_attention, torch.eye(t).expand(3, t, t))


@pytest.mark.parametrize("name", TINY_NAMES)
def test_inputs_matter_and_every_block_parameter_learns(name: str) -> None:
    """The design document's bug (cls never updated) would fail both checks."""
    torch.manual_seed(0)
    model = models.create_model(name).train()
    a, b = model(_input(model, seed=1)).logits, model(_input(model, seed=2)).logits
    assert (a - b).abs().max() > 1e-4
    (a.logsumexp(-1).sum() - a[:, 0].sum()).backward()
    blocks = [(n, p) for n, p in model.named_parameters() if "blocks." in n]
    assert blocks
    dead = [n for n, p in blocks if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead, f"no gradient reaches {dead}"


def test_initialisation() -> None:
    torch.manual_seed(0)
    model = models.create_model("timesformer_tiny", embed_dim=96, num_heads=4)
    assert isinstance(model, models.TimeSformer)
    for embed in (model.time_embed, model.pos_embed, model.cls_token):
        assert 0.015 < embed.std().item() < 0.025  # trunc_normal(std=0.02), as timm / the references
    block = model.blocks[0]
    assert block.temporal_fc.bias.abs().sum() == 0 and block.attn.qkv.bias.abs().sum() == 0
    assert (block.norm1.weight == 1).all() and (block.norm1.bias == 0).all()
    assert 0.015 < block.mlp.fc1.weight.std().item() < 0.025


def test_space_only_ignores_frame_order() -> None:
    """Frames never interact in space-only models: reversing the clip cannot change the logits."""
    model = models.create_model("timesformer_tiny_space_only").eval()
    x = _input(model)
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, model(x.flip(1)).logits, rtol=0, atol=1e-5)
