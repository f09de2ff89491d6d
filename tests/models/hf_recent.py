"""Tiny random transformers V-JEPA 2 and VideoPrism classifiers (the configs of attention-patterns.md §7).

Every parameter is random, including the LayerNorm offsets and VideoPrism's `per_dim_scale` (zero at
init, which would hide a missing `+ 1` or softplus).
"""

from __future__ import annotations

from typing import Any

from tests.models.hf_reference import LABELS, randomise, transformers

VJEPA2_TINY: dict[str, Any] = {
    "patch_size": 4,
    "crop_size": 16,
    "frames_per_clip": 4,
    "tubelet_size": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,  # head_dim 16: 3 × 4 channels rotated, 4 left as they are
    "num_hidden_layers": 2,
    "num_pooler_layers": 1,
    "pred_hidden_size": 32,
    "pred_num_attention_heads": 2,
    "pred_num_hidden_layers": 1,
    "pred_num_mask_tokens": 2,
}
VIDEOPRISM_TINY: dict[str, Any] = {
    "image_size": 16,
    "num_frames": 4,
    "tubelet_size": [1, 4, 4],
    "hidden_size": 32,
    "num_attention_heads": 4,
    "intermediate_size": 64,  # the pooling head's head_dim: 64 / 4 = 16, not 32 / 4
    "num_spatial_layers": 2,
    "num_temporal_layers": 1,
    "attn_logit_softcapping": 1.0,  # small enough that the cap changes every logit
}


def _labels(config: Any) -> Any:
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {v: k for k, v in config.id2label.items()}
    return config


def vjepa2(**kw: Any) -> Any:
    config = transformers.VJEPA2Config(**{**VJEPA2_TINY, **kw})
    return randomise(transformers.VJEPA2ForVideoClassification(_labels(config)), seed=3)


def videoprism(**kw: Any) -> Any:
    config = transformers.VideoPrismVisionConfig(**{**VIDEOPRISM_TINY, **kw})
    return randomise(transformers.VideoPrismForVideoClassification(_labels(config)), seed=4)


def logits(model: Any, x: Any, **kw: Any) -> Any:
    """`[B, C]` logits (VideoPrism's come as `[B, 1, C]`)."""
    import torch

    with torch.no_grad():
        out = model(pixel_values_videos=x, **kw).logits
    return out[:, 0] if out.dim() == 3 else out
