"""The named constructors: published configurations and tiny ones for tests and demos.

Published (Kinetics-400 heads, random weights until a checkpoint is loaded):
`timesformer_base_8x224` (divided), `timesformer_hr_16x448`, `timesformer_l_96x224`,
`timesformer_base_8x224_joint`, `timesformer_base_8x224_space_only`, `vivit_b_16x2_k400` (Model 1,
32 frames, tubelets 2×16×16), `vivit_b_fe_k400` (factorised encoder, 12 spatial + 4 temporal layers),
`videomae_base_16x224`.

Tiny (4 frames of 32×32, patch 8, width 48, 2 layers, 5 classes; uniform sampling): `timesformer_tiny`,
`timesformer_tiny_joint`, `timesformer_tiny_space_only`, `vivit_tiny`, `vivit_fe_tiny`, `videomae_tiny`.
"""

from __future__ import annotations

from typing import Any

from models.base import VideoModel
from models.registry import TINY, TINY_CARD, build_model, register_model
from models.timesformer import TimeSformer, TimeSformerConfig
from models.videomae import VideoMAE, VideoMAEConfig
from models.vivit import ViViT, ViViTConfig, ViViTFactorised, ViViTFactorisedConfig


# --- TimeSformer ------------------------------------------------------------------------------------
@register_model
def timesformer_base_8x224(**overrides: Any) -> VideoModel:
    return build_model(TimeSformer, TimeSformerConfig(), name="timesformer_base_8x224", **overrides)


@register_model
def timesformer_hr_16x448(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(num_frames=16, image_size=448)
    return build_model(TimeSformer, config, name="timesformer_hr_16x448", **overrides)


@register_model
def timesformer_l_96x224(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(num_frames=96, image_size=224)
    return build_model(TimeSformer, config, name="timesformer_l_96x224", **overrides)


@register_model
def timesformer_base_8x224_joint(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(attention="joint_space_time")
    return build_model(TimeSformer, config, name="timesformer_base_8x224_joint", **overrides)


@register_model
def timesformer_base_8x224_space_only(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(attention="space_only")
    return build_model(TimeSformer, config, name="timesformer_base_8x224_space_only", **overrides)


@register_model
def timesformer_tiny(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**TINY)
    return build_model(TimeSformer, config, name="timesformer_tiny", card=TINY_CARD, **overrides)


@register_model
def timesformer_tiny_joint(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**TINY, attention="joint_space_time")
    return build_model(TimeSformer, config, name="timesformer_tiny_joint", card=TINY_CARD, **overrides)


@register_model
def timesformer_tiny_space_only(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**TINY, attention="space_only")
    return build_model(TimeSformer, config, name="timesformer_tiny_space_only", card=TINY_CARD, **overrides)


# --- ViViT ------------------------------------------------------------------------------------------
@register_model
def vivit_b_16x2_k400(**overrides: Any) -> VideoModel:
    return build_model(ViViT, ViViTConfig(), name="vivit_b_16x2_k400", **overrides)


@register_model
def vivit_b_fe_k400(**overrides: Any) -> VideoModel:
    return build_model(ViViTFactorised, ViViTFactorisedConfig(), name="vivit_b_fe_k400", **overrides)


@register_model
def vivit_tiny(**overrides: Any) -> VideoModel:
    return build_model(ViViT, ViViTConfig(**TINY), name="vivit_tiny", card=TINY_CARD, **overrides)


@register_model
def vivit_fe_tiny(**overrides: Any) -> VideoModel:
    config = ViViTFactorisedConfig(**TINY, temporal_depth=1)
    return build_model(ViViTFactorised, config, name="vivit_fe_tiny", card=TINY_CARD, **overrides)


# --- VideoMAE ---------------------------------------------------------------------------------------
@register_model
def videomae_base_16x224(**overrides: Any) -> VideoModel:
    return build_model(VideoMAE, VideoMAEConfig(), name="videomae_base_16x224", **overrides)


@register_model
def videomae_tiny(**overrides: Any) -> VideoModel:
    return build_model(VideoMAE, VideoMAEConfig(**TINY), name="videomae_tiny", card=TINY_CARD, **overrides)
