"""Named Video Swin constructors (random weights until a checkpoint is loaded; Kinetics-400 heads).

Published (official configs `swin_{tiny,small,base}_patch244_window877_kinetics400_*`, torchvision
`swin3d_t/s/b`): 32 frames of 224², patch 2×4×4, window 8×7×7, LayerNorm after the patch embedding.

* `video_swin_t_k400`: C 96, depths 2-2-6-2, heads 3-6-12-24 (28.2 M parameters);
* `video_swin_s_k400`: C 96, depths 2-2-18-2, heads 3-6-12-24 (49.8 M);
* `video_swin_b_k400`: C 128, depths 2-2-18-2, heads 4-8-16-32 (88.0 M).

Tiny (tests and demos; not Swin-T): `video_swin_tiny` — 8 frames of 64², three stages of 2 blocks
(widths 16-32-64, heads 2-4-8, MLP ratio 2), embedding 2×4×4, window 2×4×4, 5 classes; its last stage
is 4 × 4 × 4 (temporal windows of 2 slices, shifted by 1), the grid of its maps.
"""

from __future__ import annotations

from typing import Any

from models.base import VideoModel
from models.registry import TINY_CARD, build_model, register_model
from models.swin.model import VideoSwin, VideoSwinConfig


@register_model
def video_swin_t_k400(**overrides: Any) -> VideoModel:
    return build_model(VideoSwin, VideoSwinConfig(), name="video_swin_t_k400", **overrides)


@register_model
def video_swin_s_k400(**overrides: Any) -> VideoModel:
    config = VideoSwinConfig(depths=(2, 2, 18, 2))
    return build_model(VideoSwin, config, name="video_swin_s_k400", **overrides)


@register_model
def video_swin_b_k400(**overrides: Any) -> VideoModel:
    config = VideoSwinConfig(embed_dim=128, num_heads=4, depths=(2, 2, 18, 2))
    return build_model(VideoSwin, config, name="video_swin_b_k400", **overrides)


@register_model
def video_swin_tiny(**overrides: Any) -> VideoModel:
    config = VideoSwinConfig(
        num_frames=8,
        image_size=64,
        patch_size=16,
        embed_dim=16,
        num_heads=2,
        mlp_dim=32,
        depths=(2, 2, 2),
        window_size=(2, 4, 4),
        num_classes=5,
    )
    return build_model(VideoSwin, config, name="video_swin_tiny", card=TINY_CARD, **overrides)
