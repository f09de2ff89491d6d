"""HF `TimesformerForVideoClassification` folders → `TimeSformer`.

Keys (4.x and 5.x name them alike): `timesformer.embeddings.{cls_token, position_embeddings,
time_embeddings, patch_embeddings.projection}`, `timesformer.encoder.layer.{i}.{attention.attention.qkv,
attention.output.dense, temporal_layernorm, temporal_attention.attention.qkv,
temporal_attention.output.dense, temporal_dense, layernorm_before, layernorm_after, intermediate.dense,
output.dense}`, `timesformer.layernorm`, `classifier`.

HF's space-only model returns per-frame logits; we set `space_only_pool="logits"`, so our logits are
their mean over frames.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from models.card import KINETICS_MEAN, KINETICS_STD
from models.convert.common import (
    Converted,
    Preprocessing,
    Rules,
    hf_converted,
    hf_gelu,
    hf_num_classes,
    rename_keys,
    square,
)
from models.timesformer import TimeSformer, TimeSformerConfig

_L = r"timesformer\.encoder\.layer\.(\d+)\."
RULES: Rules = [
    (r"timesformer\.embeddings\.cls_token", "cls_token"),
    (r"timesformer\.embeddings\.position_embeddings", "pos_embed"),
    (r"timesformer\.embeddings\.time_embeddings", "time_embed"),
    (r"timesformer\.embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (_L + r"attention\.attention\.qkv\.(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (_L + r"attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (_L + r"temporal_attention\.attention\.qkv\.(weight|bias)", r"blocks.\1.temporal_attn.qkv.\2"),
    (_L + r"temporal_attention\.output\.dense\.(weight|bias)", r"blocks.\1.temporal_attn.proj.\2"),
    (_L + r"temporal_layernorm\.(weight|bias)", r"blocks.\1.temporal_norm1.\2"),
    (_L + r"temporal_dense\.(weight|bias)", r"blocks.\1.temporal_fc.\2"),
    (_L + r"layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (_L + r"layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (_L + r"intermediate\.dense\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (_L + r"output\.dense\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"timesformer\.layernorm\.(weight|bias)", r"norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
]


def checkpoint_filter_fn(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """HF TimeSformer state dict → ours (pure renaming)."""
    return rename_keys(state_dict, RULES)


def config_from_hf(hf: dict[str, Any]) -> TimeSformerConfig:
    return TimeSformerConfig(
        num_frames=int(hf.get("num_frames", 8)),
        image_size=square(hf.get("image_size", 224), "image_size"),
        patch_size=square(hf.get("patch_size", 16), "patch_size"),
        in_chans=int(hf.get("num_channels", 3)),
        num_classes=hf_num_classes(hf),
        embed_dim=int(hf.get("hidden_size", 768)),
        depth=int(hf.get("num_hidden_layers", 12)),
        num_heads=int(hf.get("num_attention_heads", 12)),
        mlp_dim=int(hf.get("intermediate_size", 3072)),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        gelu=hf_gelu(hf),  # type: ignore[arg-type]
        norm_eps=float(hf.get("layer_norm_eps", 1e-6)),
        attention=hf.get("attention_type", "divided_space_time"),
        space_only_pool="logits",
    )


def convert(
    hf: dict[str, Any], state_dict: dict[str, Tensor], pre: Preprocessing, *, name: str, source: str
) -> Converted:
    return hf_converted(
        TimeSformer,
        config_from_hf(hf),
        hf,
        checkpoint_filter_fn(state_dict),
        pre,
        name=name,
        source=source,
        default_norm=(KINETICS_MEAN, KINETICS_STD),
    )
