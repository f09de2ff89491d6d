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

from models.card import KINETICS_MEAN, KINETICS_STD
from models.convert.common import (
    HF_CLS_EMBEDDINGS,
    HF_VIT_LAYER,
    HFFormat,
    Names,
    Rules,
    hf_rules,
    hf_vit_fields,
    square,
)
from models.timesformer import TimeSformer, TimeSformerConfig

_LAYER: Names = (
    ("attention.attention.qkv", "attn.qkv"),
    ("temporal_attention.attention.qkv", "temporal_attn.qkv"),
    ("temporal_attention.output.dense", "temporal_attn.proj"),
    ("temporal_layernorm", "temporal_norm1"),
    ("temporal_dense", "temporal_fc"),
    *HF_VIT_LAYER,
)
RULES: Rules = hf_rules(
    "timesformer",
    embeddings=(*HF_CLS_EMBEDDINGS, ("time_embeddings", "time_embed")),
    layers={r"timesformer\.encoder\.layer\.(\d+)\.": _LAYER},
    modules=(("timesformer.layernorm", "norm"),),
)


def config_from_hf(hf: dict[str, Any]) -> TimeSformerConfig:
    return TimeSformerConfig(
        num_frames=int(hf.get("num_frames", 8)),
        patch_size=square(hf.get("patch_size", 16), "patch_size"),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        attention=hf.get("attention_type", "divided_space_time"),
        space_only_pool="logits",
        **hf_vit_fields(hf, norm_eps=1e-6),
    )


FORMAT = HFFormat(
    model_cls=TimeSformer,
    config_from_hf=config_from_hf,
    rules=RULES,
    default_norm=(KINETICS_MEAN, KINETICS_STD),
)
