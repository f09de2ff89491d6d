"""HF `VivitForVideoClassification` folders → `ViViT` (Model 1), legacy (4.x, hub files) or 5.x keys.

4.x / hub: `vivit.encoder.layer.{i}.{attention.attention.{query,key,value}, attention.output.dense,
layernorm_before, layernorm_after, intermediate.dense, output.dense}`;
5.x: `vivit.layers.{i}.{attention.{q_proj,k_proj,v_proj,o_proj}, layernorm_before, layernorm_after,
mlp.fc1, mlp.fc2}`. Both: `vivit.embeddings.{cls_token, position_embeddings,
patch_embeddings.projection}`, `vivit.layernorm`, `classifier`; a `vivit.pooler` (unused by the
classifier) is dropped. q, k, v are fused into one `qkv`.

Preprocessing: scenic feeds `[-1, 1]`, i.e. mean = std = 0.5 on `pixel/255`. The hub preprocessor
rescales to `[-1, 1]` *and* normalises with 0.5/0.5 (giving `[-3, 1]`), so its mean/std are not used.
"""

from __future__ import annotations

from typing import Any

from models.convert.common import (
    HF_CLS_EMBEDDINGS,
    HF_VIT_LAYER_SPLIT_QKV,
    HFFormat,
    Rules,
    hf_rules,
    hf_vit_fields,
)
from models.vivit import ViViT, ViViTConfig

_LAYER_5X = (
    ("attention.q_proj", "attn.q"),
    ("attention.k_proj", "attn.k"),
    ("attention.v_proj", "attn.v"),
    ("attention.o_proj", "attn.proj"),
    ("mlp.fc1", "mlp.fc1"),
    ("mlp.fc2", "mlp.fc2"),
    ("layernorm_before", "norm1"),
    ("layernorm_after", "norm2"),
)
RULES: Rules = hf_rules(
    "vivit",
    embeddings=HF_CLS_EMBEDDINGS,
    layers={
        r"vivit\.encoder\.layer\.(\d+)\.": HF_VIT_LAYER_SPLIT_QKV,  # 4.x / hub files
        r"vivit\.layers\.(\d+)\.": _LAYER_5X,
    },
    modules=(("vivit.layernorm", "norm"),),
)
DROP = (r"vivit\.pooler\..*",)


def config_from_hf(hf: dict[str, Any]) -> ViViTConfig:
    tubelet = hf.get("tubelet_size", [2, 16, 16])
    if len(tubelet) != 3 or tubelet[1] != tubelet[2]:
        raise ValueError(f"unsupported tubelet_size {tubelet}: expected [t, p, p]")
    return ViViTConfig(
        num_frames=int(hf.get("num_frames", 32)),
        patch_size=int(tubelet[1]),
        tubelet_size=int(tubelet[0]),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        **hf_vit_fields(hf, norm_eps=1e-6),
    )


FORMAT = HFFormat(
    model_cls=ViViT,
    config_from_hf=config_from_hf,
    rules=RULES,
    drop=DROP,
    fuse_qkv=True,
    default_norm=None,  # mean/std stay 0.5: scenic's [-1, 1]
)
