"""Named MTV constructors (random weights; no checkpoint format is read for MTV).

* `mtv_b_k400`: MTV-B as scenic's `k400_mtv_b2_cva` — 32 frames of 224², patch 16, views Ti/8 + S/4 + B/2
  (12 layers each), cross-view attention before layers 5 and 11, global encoder over the 16 merged
  tokens (width 1344, 8 heads, MLP 3072, 12 layers), Kinetics-400 head, [-1, 1] input, 4 × 3 views.
* `mtv_tiny` (tests and demos): 8 frames of 32², patch 8, three views on tubelets of 4, 2 and 1 frames
  (widths 8/16/32, heads 1/2/4, MLP 16/32/64, 2 layers, fusion before both), a 1-layer global encoder
  over the 8 merged tokens (width 56, 8 heads), 5 classes; attention grid 8 × 4 × 4.
"""

from __future__ import annotations

from typing import Any

from models.base import VideoModel
from models.mtv.model import MTV, MTVConfig
from models.registry import TINY_CARD, build_model, register_model


@register_model
def mtv_b_k400(**overrides: Any) -> VideoModel:
    return build_model(MTV, MTVConfig(), name="mtv_b_k400", **overrides)


@register_model
def mtv_tiny(**overrides: Any) -> VideoModel:
    config = MTVConfig(
        num_frames=8,
        image_size=32,
        patch_size=8,
        tubelet_size=4,
        embed_dim=32,
        num_heads=4,
        mlp_dim=64,
        depth=2,
        global_depth=1,
        num_classes=5,
    )
    return build_model(MTV, config, name="mtv_tiny", card=TINY_CARD, **overrides)
