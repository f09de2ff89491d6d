"""The demo models trained on `motion` (see `models.demo.train`): three registered constructors.

All three see 8 frames on a 4×4 patch grid, width 96, and share the card's input contract: frames spread
uniformly over the whole clip (`sampling="uniform"`), the short side resized to the input size and
centre-cropped, `(pixel / 255 − 0.45) / 0.225`.

- `motion_timesformer`: TimeSformer, divided space–time attention, 3 layers, 32×32, patch 8 (shipped);
- `motion_vivit`: ViViT factorised encoder, 64×64, tubelets 2×16×16, 3 spatial + 2 temporal layers
  (shipped);
- `motion_space_only`: the TimeSformer above with space-only attention: the ablation (not shipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from models.base import VideoModel
from models.card import KINETICS_MEAN, KINETICS_STD
from models.demo.motion import LABELS
from models.registry import build_model, register_model
from models.timesformer import TimeSformer, TimeSformerConfig
from models.vivit import ViViTFactorised, ViViTFactorisedConfig

NUM_FRAMES = 8
IMAGE_SIZE = 32
VIVIT_IMAGE_SIZE = 64  # at 32 px the rotating classes stayed at 0.76-0.88 even on easy clips
_COMMON: dict[str, Any] = {
    "num_frames": NUM_FRAMES,
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "num_classes": len(LABELS),
    "embed_dim": 96,
    "num_heads": 3,
    "mlp_dim": 384,
}


#: how every model trained on `motion` reads a clip (the card fields beside the input size)
MOTION_POLICY: Mapping[str, Any] = MappingProxyType(
    {
        "sampling": "uniform",
        "frame_stride": None,
        "target_fps": None,
        "resize": "short_side_center_crop",
        "mean": KINETICS_MEAN,
        "std": KINETICS_STD,
        "test_clips": 1,  # one view: the moving object may leave a crop of the frame
        "test_crops": 1,
    }
)


def _card(description: str) -> dict[str, Any]:
    return {
        **MOTION_POLICY,
        "source": "trained by `vtserve train-demo` on the synthetic `motion` dataset (models/demo)",
        "extra": {"dataset": "motion (models.demo.motion)", "description": description},
    }


@register_model
def motion_timesformer(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**_COMMON, depth=3, attention="divided_space_time")
    card = _card("TimeSformer, divided space-time attention, 8x32x32, patch 8")
    return build_model(TimeSformer, config, name="motion-timesformer", card=card, labels=LABELS, **overrides)


@register_model
def motion_vivit(**overrides: Any) -> VideoModel:
    common = {**_COMMON, "image_size": VIVIT_IMAGE_SIZE, "patch_size": 16}
    config = ViViTFactorisedConfig(**common, depth=3, temporal_depth=2, tubelet_size=2)
    card = _card("ViViT factorised encoder (3 spatial + 2 temporal layers), tubelets 2x16x16, 8x64x64")
    return build_model(ViViTFactorised, config, name="motion-vivit", card=card, labels=LABELS, **overrides)


@register_model
def motion_space_only(**overrides: Any) -> VideoModel:
    config = TimeSformerConfig(**_COMMON, depth=3, attention="space_only")
    card = _card("ablation: TimeSformer with space-only attention (frames never interact), 8x32x32")
    return build_model(TimeSformer, config, name="motion-space-only", card=card, labels=LABELS, **overrides)
