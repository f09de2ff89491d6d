"""MTV: scenic's MTV-B shapes, views per segment, cross-view fusion's direction, time alignment, maps."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

import models
from models.mtv import MTV
from models.mtv.model import ViewEncoder, align_time

VIT_BLOCK = {192: 444_864, 384: 1_774_464, 768: 7_087_872}  # one ViT-Ti / S / B encoder block (timm)


def _tiny(**overrides: object) -> MTV:
    torch.manual_seed(0)
    model = models.create_model("mtv_tiny", **overrides).eval()
    assert isinstance(model, MTV)
    return model


def _clip(batch: int = 2, seed: int = 0) -> Tensor:
    return torch.randn(batch, 8, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_mtv_b_is_scenics_k400_configuration() -> None:
    with torch.device("meta"):
        model = models.create_model("mtv_b_k400")
    assert isinstance(model, MTV)
    c = model.config
    views = [c.view(v) for v in range(3)]
    assert [(s.tubelet, s.embed_dim, s.num_heads, s.hidden_dim) for s in views] == [
        (8, 192, 3, 768),
        (4, 384, 6, 1536),
        (2, 768, 12, 3072),
    ]
    for view, spec in zip(model.views, views, strict=True):
        assert isinstance(view, ViewEncoder) and len(view.blocks) == 12
        assert sum(p.numel() for p in view.blocks.parameters()) == 12 * VIT_BLOCK[spec.embed_dim]
    assert c.fused_layers == (5, 11) and c.global_width == 1344 and c.resolved_global_heads == 8
    assert len(model.global_blocks) == 12 and model.global_blocks[0].mlp.fc1.out_features == 3072
    assert model.grid == (16, 14, 14) and model.card.input.tubelet_size == 2
    assert model.card.attention == "multiview" and model.card.input.test_clips == 4
    assert model.token_grids() == {
        "attention": (16, 14, 14),
        "view0": (4, 14, 14),
        "view1": (8, 14, 14),
        "view2": (16, 14, 14),
    }


def test_views_meet_only_in_the_global_encoder_across_segments() -> None:
    """Changing the second segment (frames 4–7) leaves every view's first-segment tokens unchanged."""
    model = _tiny()
    x = _clip(batch=1)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        (vx, _), (vy, _) = model._encode_views(x, frozenset()), model._encode_views(y, frozenset())
        out_x, out_y = model(x).logits, model(y).logits
    for a, b in zip(vx, vy, strict=True):  # [B·S, L, C]: row 0 is segment 0
        torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
        assert (a[1] - b[1]).abs().max() > 1e-3
    assert (out_x - out_y).abs().max() > 1e-4


def test_cross_view_attention_flows_from_finer_to_coarser_views() -> None:
    """A view's tokens depend on the finer views' parameters, never on the coarser views'."""
    model = _tiny()
    views, _ = model._encode_views(_clip(), frozenset())
    for v in range(3):
        model.zero_grad()
        views[v].sum().backward(retain_graph=True)
        for u, encoder in enumerate(model.views):
            grad = encoder.patch_embed.proj.weight.grad
            reached = grad is not None and grad.abs().sum() > 0
            assert reached == (u >= v), (v, u)


def test_time_alignment_tile_and_interleave() -> None:
    cls = torch.arange(2.0).reshape(1, 2, 1)  # two slices a=0, b=1
    assert align_time(cls, 8, "tile").flatten().tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert align_time(cls, 8, "interleave").flatten().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    a, b = _tiny(), _tiny(temporal_merge="interleave")
    b.load_state_dict(a.state_dict())
    x = _clip()
    with torch.no_grad():
        assert (a(x).logits - b(x).logits).abs().max() > 1e-5  # the alignment is used


def test_maps_per_view_and_fused() -> None:
    model = _tiny()
    x = _clip(batch=3)
    maps = model.view_maps(x)
    with torch.no_grad():
        out = model(x, return_attention=True)
    assert set(maps) == {"view0", "view1", "view2", "fused"}
    for name, t in (("view0", 2), ("view1", 4), ("view2", 8), ("fused", 8)):
        temporal, spatial = maps[name]
        assert temporal.shape == (3, t, t) and spatial.shape == (3, t, 4, 4)
        torch.testing.assert_close(temporal.sum(-1), torch.ones(3, t))
        torch.testing.assert_close(spatial.sum((-1, -2)), torch.ones(3, t))
    torch.testing.assert_close(maps["view0"].temporal, torch.eye(2).expand(3, 2, 2))  # one slice a segment
    view2 = maps["view2"].temporal
    assert view2[:, :4, 4:].abs().max() == 0 and view2[:, 4:, :4].abs().max() == 0  # segments apart
    assert out.temporal_attention is not None and out.spatial_attention is not None
    torch.testing.assert_close(out.temporal_attention, maps["fused"].temporal)
    torch.testing.assert_close(out.spatial_attention, maps["view2"].spatial)
    assert maps["fused"].temporal[:, :4, 4:].sum() > 0.1  # the global encoder links the segments


def test_the_spatial_map_lands_on_the_patch_a_slice_attends_to() -> None:
    """The finest view's last layer is made to attend to one patch (slice 3, row 2, column 1)."""
    model = _tiny()
    finest = model.views[2]
    block = finest.blocks[-1]
    dim, n = 32, 16
    g = torch.Generator().manual_seed(3)
    base, target = torch.randn(dim, generator=g), torch.randn(dim, generator=g)
    tokens = base + 0.01 * torch.randn(2, 4 * (1 + n), dim, generator=g)  # [B·S, 4 slices × (cls + 16)]
    tokens[0, 3 * (1 + n) + 1 + 2 * 4 + 1] = target  # segment 0, slice 3, row 2, column 1
    with torch.no_grad():
        q_bias = 30.0 * block.norm1(target)
        block.attn.qkv.weight.zero_()
        block.attn.qkv.bias.zero_()
        block.attn.qkv.bias[:dim] = q_bias
        block.attn.qkv.weight[dim : 2 * dim] = torch.eye(dim)
    hook = block.register_forward_pre_hook(lambda _m, args: (tokens, *args[1:]))
    try:
        with torch.no_grad():
            out = model(_clip(batch=1), return_attention=True)
    finally:
        hook.remove()
    assert out.spatial_attention is not None
    spatial = out.spatial_attention[0, 3]
    assert divmod(int(spatial.argmax()), 4) == (2, 1) and spatial[2, 1] > 0.9


def test_checkpoint_roundtrip_at_another_frame_count(tmp_path: Path) -> None:
    model = _tiny()
    models.save_pretrained(model, tmp_path / "mtv")
    same = models.load_pretrained(tmp_path / "mtv")
    x = _clip()
    with torch.no_grad():
        torch.testing.assert_close(same(x).logits, model(x).logits, rtol=0, atol=0)
    longer = models.load_pretrained(tmp_path / "mtv", num_frames=16)  # per-slice cls, global table resampled
    assert isinstance(longer, MTV) and longer.grid == (16, 4, 4) and longer.config.segments == 4
    with torch.no_grad():
        out = longer(torch.randn(1, 16, 3, 32, 32), return_attention=True)
    assert out.temporal_attention is not None and out.temporal_attention.shape == (1, 16, 16)
