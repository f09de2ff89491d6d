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

from torch import Tensor

from models.card import IMAGENET_MEAN, IMAGENET_STD
from models.convert.common import (
    CheckpointError,
    Converted,
    Preprocessing,
    Rules,
    hf_converted,
    hf_gelu,
    hf_num_classes,
    merge_qkv,
    rename_keys,
    square,
)
from models.videomae import VideoMAE, VideoMAEConfig

_L = r"videomae\.encoder\.layer\.(\d+)\."
RULES: Rules = [
    (r"videomae\.embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (_L + r"attention\.attention\.query\.(weight|bias)", r"blocks.\1.attn.q.\2"),
    (_L + r"attention\.attention\.key\.(weight|bias)", r"blocks.\1.attn.k.\2"),
    (_L + r"attention\.attention\.value\.(weight|bias)", r"blocks.\1.attn.v.\2"),
    (_L + r"attention\.attention\.q_bias", r"blocks.\1.attn.q.bias"),
    (_L + r"attention\.attention\.v_bias", r"blocks.\1.attn.v.bias"),
    (_L + r"attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (_L + r"intermediate\.dense\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (_L + r"output\.dense\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (_L + r"layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (_L + r"layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"fc_norm\.(weight|bias)", r"fc_norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
]
DROP = [r"videomae\.embeddings\.position_embeddings"]


def checkpoint_filter_fn(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """HF VideoMAE state dict (either naming) → ours: rename, fuse q/k/v weights, keep q/v biases."""
    return merge_qkv(rename_keys(state_dict, RULES, drop=DROP), bias_zero_k=True)


def config_from_hf(hf: dict[str, Any]) -> VideoMAEConfig:
    if not hf.get("use_mean_pooling", True):
        raise CheckpointError(
            "VideoMAE checkpoints without mean pooling (use_mean_pooling=False) are not supported"
        )
    return VideoMAEConfig(
        num_frames=int(hf.get("num_frames", 16)),
        image_size=square(hf.get("image_size", 224), "image_size"),
        patch_size=square(hf.get("patch_size", 16), "patch_size"),
        tubelet_size=int(hf.get("tubelet_size", 2)),
        in_chans=int(hf.get("num_channels", 3)),
        num_classes=hf_num_classes(hf),
        embed_dim=int(hf.get("hidden_size", 768)),
        depth=int(hf.get("num_hidden_layers", 12)),
        num_heads=int(hf.get("num_attention_heads", 12)),
        mlp_dim=int(hf.get("intermediate_size", 3072)),
        qkv_bias="qv" if hf.get("qv_bias", True) else "none",
        gelu=hf_gelu(hf),  # type: ignore[arg-type]
        norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
        fc_norm_eps=1e-5,  # HF builds fc_norm with nn.LayerNorm's default eps
    )


def convert(
    hf: dict[str, Any], state_dict: dict[str, Tensor], pre: Preprocessing, *, name: str, source: str
) -> Converted:
    return hf_converted(
        VideoMAE,
        config_from_hf(hf),
        hf,
        checkpoint_filter_fn(state_dict),
        pre,
        name=name,
        source=source,
        default_norm=(IMAGENET_MEAN, IMAGENET_STD),
    )
