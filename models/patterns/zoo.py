"""Named constructors of the attention patterns (random weights until trained or loaded).

Tiny (8 frames of 32×32, patch 8 → a 8×4×4 grid, width 48, 4 heads, 2 layers, 5 classes; uniform
sampling), one per `card.attention` value: `factorised_self_attention_tiny`, `factorised_dot_product_tiny`,
`axial_tiny`, `local_global_tiny` (window 3, summaries of 2 frames), `strided_sparse_tiny` (stride 2),
`windowed_tiny` (window 3), `multiscale_tiny` (strides 1, 2, 4), and `timesformer_tiny_relpos`
(divided attention with a relative temporal bias).

Base (ViT-B: width 768, 12 layers, 12 heads, MLP 3072; 224 px, patch 16; Kinetics-400 heads), shaped like
the published model each pattern comes from:

* ViViT-B, 32 frames, tubelets 2×16×16 (T' = 16), [-1, 1] input, 4×3 views (ViViT Table 2):
  `factorised_self_attention_base_32x224` (Model 3), `factorised_dot_product_base_32x224` (Model 4), and,
  on the same backbone (no published config of their own), `windowed_base_32x224` (window 9 tubelets,
  about Video Swin's 8-token temporal window) and `strided_sparse_base_32x224` (stride 4);
* TimeSformer-B, 8×224, stride 32, Kinetics mean/std, 3 crops (TimeSformer Table 1):
  `axial_base_8x224` (its Axial T+W+H, here H, W, T), `local_global_base_8x224` (its L+G analogue:
  window 3, summaries of 2 frames), `timesformer_base_8x224_relpos`;
* `multiscale_base_16x224`: 16 frames at stride 4 (the 64-frame span of SlowFast 8×8's fast pathway),
  branches at strides 1, 2, 4, each a 12-layer ViT-B (no published transformer config).
"""

from __future__ import annotations

from typing import Any

from models.base import VideoModel
from models.patterns.model import PatternConfig, PatternViT
from models.patterns.multiscale import MultiscaleConfig, MultiscaleViT
from models.registry import TINY as REGISTRY_TINY
from models.registry import TINY_CARD, build_model, register_model
from models.timesformer import TimeSformer, TimeSformerConfig, official_policy
from models.vivit import SCENIC_K400_POLICY

TINY: dict[str, Any] = {**REGISTRY_TINY, "num_frames": 8, "num_heads": 4}
VIVIT_32X2: dict[str, Any] = {"num_frames": 32, "tubelet_size": 2, "gelu": "tanh"}
VIVIT_CARD: dict[str, Any] = dict(SCENIC_K400_POLICY)
TIMESFORMER_CARD: dict[str, Any] = official_policy(8)


def _pattern(name: str, card: dict[str, Any], overrides: dict[str, Any], **config: Any) -> VideoModel:
    return build_model(PatternViT, PatternConfig(**config), name=name, card=card, **overrides)


# --- tiny -------------------------------------------------------------------------------------------
@register_model
def factorised_self_attention_tiny(**overrides: Any) -> VideoModel:
    return _pattern("factorised_self_attention_tiny", TINY_CARD, overrides, **TINY)


@register_model
def factorised_dot_product_tiny(**overrides: Any) -> VideoModel:
    return _pattern(
        "factorised_dot_product_tiny", TINY_CARD, overrides, **TINY, attention="factorised_dot_product"
    )


@register_model
def axial_tiny(**overrides: Any) -> VideoModel:
    return _pattern("axial_tiny", TINY_CARD, overrides, **TINY, attention="axial")


@register_model
def local_global_tiny(**overrides: Any) -> VideoModel:
    return _pattern("local_global_tiny", TINY_CARD, overrides, **TINY, attention="local_global")


@register_model
def strided_sparse_tiny(**overrides: Any) -> VideoModel:
    return _pattern("strided_sparse_tiny", TINY_CARD, overrides, **TINY, attention="strided_sparse")


@register_model
def windowed_tiny(**overrides: Any) -> VideoModel:
    return _pattern("windowed_tiny", TINY_CARD, overrides, **TINY, attention="windowed")


@register_model
def multiscale_tiny(**overrides: Any) -> VideoModel:
    config = MultiscaleConfig(**TINY, strides=(1, 2, 4))
    return build_model(MultiscaleViT, config, name="multiscale_tiny", card=TINY_CARD, **overrides)


@register_model
def timesformer_tiny_relpos(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**TINY, temporal_rel_pos=True)
    return build_model(TimeSformer, config, name="timesformer_tiny_relpos", card=TINY_CARD, **overrides)


# --- base -------------------------------------------------------------------------------------------
@register_model
def factorised_self_attention_base_32x224(**overrides: Any) -> VideoModel:
    name = "factorised_self_attention_base_32x224"
    return _pattern(name, VIVIT_CARD, overrides, **VIVIT_32X2)


@register_model
def factorised_dot_product_base_32x224(**overrides: Any) -> VideoModel:
    name = "factorised_dot_product_base_32x224"
    return _pattern(name, VIVIT_CARD, overrides, **VIVIT_32X2, attention="factorised_dot_product")


@register_model
def windowed_base_32x224(**overrides: Any) -> VideoModel:
    config = {**VIVIT_32X2, "attention": "windowed", "temporal_window": 9}
    return _pattern("windowed_base_32x224", VIVIT_CARD, overrides, **config)


@register_model
def strided_sparse_base_32x224(**overrides: Any) -> VideoModel:
    config = {**VIVIT_32X2, "attention": "strided_sparse", "temporal_stride": 4}
    return _pattern("strided_sparse_base_32x224", VIVIT_CARD, overrides, **config)


@register_model
def axial_base_8x224(**overrides: Any) -> VideoModel:
    return _pattern("axial_base_8x224", TIMESFORMER_CARD, overrides, num_frames=8, attention="axial")


@register_model
def local_global_base_8x224(**overrides: Any) -> VideoModel:
    config = {"num_frames": 8, "attention": "local_global", "temporal_window": 3, "temporal_stride": 2}
    return _pattern("local_global_base_8x224", TIMESFORMER_CARD, overrides, **config)


@register_model
def timesformer_base_8x224_relpos(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(temporal_rel_pos=True)
    return build_model(TimeSformer, config, name="timesformer_base_8x224_relpos", **overrides)


@register_model
def multiscale_base_16x224(**overrides: Any) -> VideoModel:
    card = {**TIMESFORMER_CARD, "frame_stride": 4}
    return build_model(
        MultiscaleViT, MultiscaleConfig(), name="multiscale_base_16x224", card=card, **overrides
    )
