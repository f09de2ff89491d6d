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

from torch import Tensor

from models.convert.common import (
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
from models.vivit import ViViT, ViViTConfig

_OLD = r"vivit\.encoder\.layer\.(\d+)\."
_NEW = r"vivit\.layers\.(\d+)\."
RULES: Rules = [
    (r"vivit\.embeddings\.cls_token", "cls_token"),
    (r"vivit\.embeddings\.position_embeddings", "pos_embed"),
    (r"vivit\.embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (_OLD + r"attention\.attention\.query\.(weight|bias)", r"blocks.\1.attn.q.\2"),
    (_OLD + r"attention\.attention\.key\.(weight|bias)", r"blocks.\1.attn.k.\2"),
    (_OLD + r"attention\.attention\.value\.(weight|bias)", r"blocks.\1.attn.v.\2"),
    (_OLD + r"attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (_OLD + r"intermediate\.dense\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (_OLD + r"output\.dense\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (_OLD + r"layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (_OLD + r"layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (_NEW + r"attention\.q_proj\.(weight|bias)", r"blocks.\1.attn.q.\2"),
    (_NEW + r"attention\.k_proj\.(weight|bias)", r"blocks.\1.attn.k.\2"),
    (_NEW + r"attention\.v_proj\.(weight|bias)", r"blocks.\1.attn.v.\2"),
    (_NEW + r"attention\.o_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (_NEW + r"mlp\.fc1\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (_NEW + r"mlp\.fc2\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (_NEW + r"layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (_NEW + r"layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"vivit\.layernorm\.(weight|bias)", r"norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
]
DROP = [r"vivit\.pooler\..*"]


def checkpoint_filter_fn(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """HF ViViT state dict (either naming) → ours: rename, then fuse q/k/v."""
    return merge_qkv(rename_keys(state_dict, RULES, drop=DROP))


def config_from_hf(hf: dict[str, Any]) -> ViViTConfig:
    tubelet = hf.get("tubelet_size", [2, 16, 16])
    if len(tubelet) != 3 or tubelet[1] != tubelet[2]:
        raise ValueError(f"unsupported tubelet_size {tubelet}: expected [t, p, p]")
    return ViViTConfig(
        num_frames=int(hf.get("num_frames", 32)),
        image_size=square(hf.get("image_size", 224), "image_size"),
        patch_size=int(tubelet[1]),
        tubelet_size=int(tubelet[0]),
        in_chans=int(hf.get("num_channels", 3)),
        num_classes=hf_num_classes(hf),
        embed_dim=int(hf.get("hidden_size", 768)),
        depth=int(hf.get("num_hidden_layers", 12)),
        num_heads=int(hf.get("num_attention_heads", 12)),
        mlp_dim=int(hf.get("intermediate_size", 3072)),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        gelu=hf_gelu(hf),  # type: ignore[arg-type]
        norm_eps=float(hf.get("layer_norm_eps", 1e-6)),
    )


def convert(
    hf: dict[str, Any], state_dict: dict[str, Tensor], pre: Preprocessing, *, name: str, source: str
) -> Converted:
    return hf_converted(
        ViViT,
        config_from_hf(hf),
        hf,
        checkpoint_filter_fn(state_dict),
        pre,
        name=name,
        source=source,
        default_norm=None,  # mean/std stay 0.5: scenic's [-1, 1]
    )
