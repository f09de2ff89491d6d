"""Video transformers for action recognition (TimeSformer, ViViT, VideoMAE), built from shared parts.

    import models
    model = models.create_model("timesformer_tiny")            # random weights, typed config + card
    out = model(x, return_attention=True)                       # x: float32 [B, T, 3, H, W]
    out.logits, out.temporal_attention, out.spatial_attention   # [B, C], [B, T', T'], [B, T', h, w]
    model = models.load_pretrained("path/to/hf_or_vtserve_folder_or.pyth")

This package knows nothing of `export/` or `service/`.
"""

from __future__ import annotations

import importlib
import importlib.util

from models import zoo as _zoo  # noqa: F401  (registers the named constructors)
from models.attention_maps import AttentionMaps
from models.base import VideoConfig, VideoModel
from models.card import ModelCard
from models.checkpoint import CheckpointError, load_pretrained, save_pretrained, shipped_path
from models.outputs import VideoOutput
from models.registry import build_model, canonical_name, create_model, list_models, register_model
from models.timesformer import TimeSformer, TimeSformerConfig
from models.videomae import VideoMAE, VideoMAEConfig
from models.vivit import ViViT, ViViTConfig, ViViTFactorised, ViViTFactorisedConfig

__all__ = [
    "AttentionMaps",
    "CheckpointError",
    "ModelCard",
    "TimeSformer",
    "TimeSformerConfig",
    "ViViT",
    "ViViTConfig",
    "ViViTFactorised",
    "ViViTFactorisedConfig",
    "VideoConfig",
    "VideoMAE",
    "VideoMAEConfig",
    "VideoModel",
    "VideoOutput",
    "build_model",
    "canonical_name",
    "create_model",
    "list_models",
    "load_pretrained",
    "register_model",
    "save_pretrained",
    "shipped_path",
]


def _import_demo_configs() -> None:
    """Register the demo models (`models.demo.configs`, owned by the training code) when present."""
    try:
        spec = importlib.util.find_spec("models.demo.configs")
    except ModuleNotFoundError:
        spec = None
    if spec is not None:
        importlib.import_module("models.demo.configs")


_import_demo_configs()
