"""V-JEPA 2 and VideoPrism: our implementations load transformers folders and give its logits (1e-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import models
from models.registry import create_model
from models.videoprism import VideoPrism
from models.vjepa2 import VJEPA2
from tests.models import hf_recent as ref
from tests.models.hf_reference import LABELS

ATOL = 1e-4


def _x(batch: int, frames: int, size: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _assert_parity(ours: Any, hf: Any, *, frames: int, size: int, **hf_kw: Any) -> None:
    for batch in (1, 3):
        x = _x(batch, frames, size, seed=batch)
        with torch.no_grad():
            got = ours(x).logits
        expected = ref.logits(hf, x, **hf_kw)
        assert got.shape == expected.shape == (batch, len(LABELS))
        torch.testing.assert_close(got, expected, rtol=0, atol=ATOL)


def test_vjepa2_matches_transformers(tmp_path: Path) -> None:
    hf = ref.vjepa2()
    hf.save_pretrained(tmp_path / "hf")
    ours = models.load_pretrained(tmp_path / "hf")
    assert isinstance(ours, VJEPA2) and ours.card.attention == "vjepa2"
    assert ours.card.labels == tuple(LABELS) and ours.card.input.mean == (0.485, 0.456, 0.406)
    assert (ours.config.num_frames, ours.config.image_size, ours.config.patch_size) == (4, 16, 4)
    assert ours.config.pooler_depth == 1 and ours.config.num_heads == 4
    _assert_parity(ours, hf, frames=4, size=16)


def test_vjepa2_at_other_frame_counts_matches_transformers(tmp_path: Path) -> None:
    """RoPE needs no table: 8 frames (4 tubelet slices, beyond the config's 4 frames) match too."""
    hf = ref.vjepa2()
    hf.save_pretrained(tmp_path / "hf")
    ours = models.load_pretrained(tmp_path / "hf", num_frames=8)
    assert ours.grid == (4, 4, 4)
    _assert_parity(ours, hf, frames=8, size=16)


def test_vjepa2_predictor_is_dropped_and_nothing_else(tmp_path: Path) -> None:
    hf = ref.vjepa2()
    keys = set(hf.state_dict())
    assert any(k.startswith("vjepa2.predictor.") for k in keys)
    from models.convert.hf_vjepa2 import FORMAT

    ours = FORMAT.checkpoint_filter_fn(dict(hf.state_dict()))
    assert not any("predictor" in k for k in ours)
    assert set(ours) == set(create_model("vjepa2_tiny", **_vjepa2_tiny_shape()).state_dict())


def _vjepa2_tiny_shape() -> dict[str, Any]:
    return {
        "image_size": 16,
        "patch_size": 4,
        "embed_dim": 64,
        "num_heads": 4,
        "mlp_dim": 256,
        "pooler_depth": 1,
    }


def test_videoprism_matches_transformers(tmp_path: Path) -> None:
    hf = ref.videoprism()
    hf.save_pretrained(tmp_path / "hf")
    ours = models.load_pretrained(tmp_path / "hf")
    assert isinstance(ours, VideoPrism) and ours.card.attention == "videoprism"
    assert ours.card.input.mean == (0.0, 0.0, 0.0) and ours.card.input.std == (1.0, 1.0, 1.0)
    assert ours.config.softcap == 1.0 and ours.pool.head_dim == 16
    _assert_parity(ours, hf, frames=4, size=16)


def test_videoprism_resampled_tables_match_interpolate_pos_encoding(tmp_path: Path) -> None:
    """Another resolution and frame count: our resampled tables give transformers'
    `interpolate_pos_encoding=True`."""
    hf = ref.videoprism()
    hf.save_pretrained(tmp_path / "hf")
    ours = models.load_pretrained(tmp_path / "hf", num_frames=6, image_size=24)
    assert ours.grid == (6, 6, 6)
    _assert_parity(ours, hf, frames=6, size=24, interpolate_pos_encoding=True)


@pytest.mark.parametrize("name", ["vjepa2_tiny", "videoprism_tiny"])
def test_tiny_maps_have_the_common_shapes_and_sums(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    assert model.card.attention == name.removesuffix("_tiny")
    t, h, w = model.grid
    x = _x(2, model.config.num_frames, model.config.image_size, seed=5)
    with torch.no_grad():
        out = model(x, return_attention=True)
        plain = model(x).logits
    assert out.temporal_attention is not None and out.spatial_attention is not None
    assert out.temporal_attention.shape == (2, t, t) and out.spatial_attention.shape == (2, t, h, w)
    torch.testing.assert_close(out.temporal_attention.sum(-1), torch.ones(2, t))
    torch.testing.assert_close(out.spatial_attention.sum((-1, -2)), torch.ones(2, t))
    assert out.temporal_attention.min() >= 0 and out.spatial_attention.min() >= 0
    torch.testing.assert_close(out.logits, plain, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["vjepa2_tiny", "videoprism_tiny"])
def test_fused_and_explicit_attention_agree(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = _x(2, model.config.num_frames, model.config.image_size, seed=6)
    with torch.no_grad():
        fused = model(x).logits
        model.set_fused_attn(False)
        explicit = model(x).logits
    torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-5)


def test_vjepa2_spatial_map_is_the_pooler_cross_attention() -> None:
    """The spatial map is what the classifier reads: moving the query token moves the map."""
    torch.manual_seed(0)
    model = create_model("vjepa2_tiny").eval()
    x = _x(1, 4, 32, seed=7)
    with torch.no_grad():
        before = model(x, return_attention=True)
        model.pooler.query_tokens.add_(torch.randn_like(model.pooler.query_tokens))
        after = model(x, return_attention=True)
    assert after.temporal_attention is not None and before.temporal_attention is not None
    torch.testing.assert_close(after.temporal_attention, before.temporal_attention)  # encoder unchanged
    assert after.spatial_attention is not None and before.spatial_attention is not None
    assert (after.spatial_attention - before.spatial_attention).abs().max() > 1e-3


def test_rope_reproduces_the_reference_layout() -> None:
    """Our tables applied to a vector equal transformers' `rotate_queries_or_keys`, chunk by chunk."""
    from transformers.models.vjepa2.modeling_vjepa2 import rotate_queries_or_keys

    from models.layers import Grid
    from models.rope import apply_rotary, rope_chunk, rope_tables

    grid, head_dim = Grid(3, 2, 5), 16
    c = rope_chunk(head_dim)
    x = torch.randn(2, 4, grid.tokens, head_dim, generator=torch.Generator().manual_seed(8))
    ids = torch.arange(grid.tokens)
    frame, row, col = ids // 10, (ids % 10) // 5, ids % 5
    expected = torch.cat(
        [rotate_queries_or_keys(x[..., i * c : (i + 1) * c], pos=p) for i, p in enumerate((frame, row, col))]
        + [x[..., 3 * c :]],
        dim=-1,
    )
    got = apply_rotary(x, rope_tables(ids, grid, head_dim, x.dtype))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # per-clip positions ([B, L]): each clip's tokens rotated by their own grid indices
    subset = torch.stack([ids[:7], ids[5:12]])
    xs = torch.stack([x[0, :, :7], x[1, :, 5:12]])
    got_subset = apply_rotary(xs, rope_tables(subset, grid, head_dim, x.dtype))
    torch.testing.assert_close(
        got_subset, torch.stack([expected[0, :, :7], expected[1, :, 5:12]]), rtol=0, atol=0
    )


def test_rope_block_follows_the_block_protocol() -> None:
    from models.attention_maps import REDUCERS, reduce_attention
    from models.blocks import BLOCKS
    from models.layers import Grid

    block = BLOCKS["joint_space_time_rope"](16, 2, 32).eval()
    assert "joint_space_time_rope" in REDUCERS
    grid = Grid(3, 2, 2)
    x = torch.randn(2, grid.tokens, 16, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        y, none = block(x, grid)
        y_attn, attention = block(x, grid, return_attention=True)
    assert none is None and attention is not None and attention.pattern == "joint_space_time_rope"
    torch.testing.assert_close(y, y_attn, rtol=0, atol=1e-5)
    maps = reduce_attention(attention)
    torch.testing.assert_close(maps.temporal.sum(-1), torch.ones(2, 3))
    torch.testing.assert_close(maps.spatial.sum((-1, -2)), torch.ones(2, 3))


def test_published_shapes_have_transformers_parameter_counts() -> None:
    """Built on the meta device (nothing allocated): ours vs transformers' defaults, predictor excluded."""
    from tests.models.hf_reference import transformers

    with torch.device("meta"):
        hf_vjepa2 = transformers.VJEPA2ForVideoClassification(transformers.VJEPA2Config(num_labels=174))
        hf_prism = transformers.VideoPrismForVideoClassification(
            transformers.VideoPrismVisionConfig(num_labels=400)
        )
        ours_vjepa2 = create_model("vjepa2_vitl_fpc16_256_ssv2")
        ours_prism = create_model("videoprism_base_f16r288")

    def count(module: torch.nn.Module, skip: str = "") -> int:
        return sum(p.numel() for n, p in module.named_parameters() if not (skip and skip in n))

    assert count(ours_vjepa2) == count(hf_vjepa2, skip="predictor")
    assert count(ours_prism) == count(hf_prism)
    assert ours_vjepa2.grid == (8, 16, 16) and ours_prism.grid == (16, 16, 16)
