"""HF `VideoMAEForVideoClassification` folders → `VideoMAE`, legacy (hub) or 5.x keys.

`videomae.embeddings.patch_embeddings.projection`, `videomae.encoder.layer.{i}.{attention.attention.
{query,key,value}.weight, attention.output.dense, layernorm_before, layernorm_after, intermediate.dense,
output.dense}`, `fc_norm`, `classifier`. The q and v biases are `attention.attention.q_bias` / `v_bias`
in hub files and `query.bias` / `value.bias` in 5.x state dicts; the k bias is a fixed zero. A stored
sinusoid table (`embeddings.position_embeddings`, old exports) is dropped: it is recomputed.
Only mean-pooling heads (`use_mean_pooling=True`, every hub fine-tune) are supported.
"""

from __future__ import annotations

from typing import Any

from models.card import IMAGENET_MEAN, IMAGENET_STD
from models.convert.common import (
    HF_VIT_LAYER_SPLIT_QKV,
    CheckpointError,
    HFFormat,
    Rules,
    hf_rules,
    hf_vit_fields,
    square,
)
from models.videomae import VideoMAE, VideoMAEConfig

_L = r"videomae\.encoder\.layer\.(\d+)\."
RULES: Rules = hf_rules(
    "videomae",
    layers={_L: HF_VIT_LAYER_SPLIT_QKV},
    modules=(("fc_norm", "fc_norm"),),
    extra=(  # hub files: learned q and v biases beside bias-free q/k/v weights
        (_L + r"attention\.attention\.q_bias", r"blocks.\1.attn.q.bias"),
        (_L + r"attention\.attention\.v_bias", r"blocks.\1.attn.v.bias"),
    ),
)
DROP = (r"videomae\.embeddings\.position_embeddings",)


def config_from_hf(hf: dict[str, Any]) -> VideoMAEConfig:
    if not hf.get("use_mean_pooling", True):
        raise CheckpointError(
            "VideoMAE checkpoints without mean pooling (use_mean_pooling=False) are not supported"
        )
    return VideoMAEConfig(
        num_frames=int(hf.get("num_frames", 16)),
        patch_size=square(hf.get("patch_size", 16), "patch_size"),
        tubelet_size=int(hf.get("tubelet_size", 2)),
        qkv_bias="qv" if hf.get("qv_bias", True) else "none",
        fc_norm_eps=1e-5,  # HF builds fc_norm with nn.LayerNorm's default eps
        **hf_vit_fields(hf, norm_eps=1e-12),
    )


FORMAT = HFFormat(
    model_cls=VideoMAE,
    config_from_hf=config_from_hf,
    rules=RULES,
    drop=DROP,
    fuse_qkv=True,
    zero_k_bias=True,
    default_norm=(IMAGENET_MEAN, IMAGENET_STD),
)
