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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public API, imported lazily below so `models.contract` stays torch-free
    from models.attention_maps import AttentionMaps
    from models.base import VideoConfig, VideoModel
    from models.card import ModelCard
    from models.checkpoint import CheckpointError, load_pretrained, save_pretrained, shipped_path
    from models.contract import InputContract
    from models.outputs import VideoOutput
    from models.registry import build_model, canonical_name, create_model, list_models, register_model
    from models.timesformer import TimeSformer, TimeSformerConfig
    from models.videomae import VideoMAE, VideoMAEConfig
    from models.vivit import ViViT, ViViTConfig, ViViTFactorised, ViViTFactorisedConfig

#: Public name -> the module that defines it. `import models` imports nothing heavy; the first access
#: of a name imports its module (and torch with it), except `InputContract`, which is pure Python.
_EXPORTS = {
    "AttentionMaps": "models.attention_maps",
    "CheckpointError": "models.checkpoint",
    "InputContract": "models.contract",
    "ModelCard": "models.card",
    "TimeSformer": "models.timesformer",
    "TimeSformerConfig": "models.timesformer",
    "ViViT": "models.vivit",
    "ViViTConfig": "models.vivit",
    "ViViTFactorised": "models.vivit",
    "ViViTFactorisedConfig": "models.vivit",
    "VideoConfig": "models.base",
    "VideoMAE": "models.videomae",
    "VideoMAEConfig": "models.videomae",
    "VideoModel": "models.base",
    "VideoOutput": "models.outputs",
    "build_model": "models.registry",
    "canonical_name": "models.registry",
    "create_model": "models.registry",
    "list_models": "models.registry",
    "load_pretrained": "models.checkpoint",
    "register_model": "models.registry",
    "save_pretrained": "models.checkpoint",
    "shipped_path": "models.checkpoint",
}

__all__ = [
    "AttentionMaps",
    "CheckpointError",
    "InputContract",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
