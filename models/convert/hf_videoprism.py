"""HF `VideoPrismForVideoClassification` folders (`model_type` `videoprism_vision_model`) → `VideoPrism`.

`vision_model.spatial_embeddings.{patch_embeddings.projection, position_embeddings}`,
`vision_model.temporal_embeddings.position_embeddings`, `vision_model.{spatial,temporal}_layers.{i}.
{attention.{q,k,v,o}_proj, layernorm_before, layernorm_after, mlp.fc1, mlp.fc2}` (q, k, v fused),
`vision_model.layernorm{1,2}`, `head.{pooling_attention_query, per_dim_scale, {q,k,v,o}_proj}`,
`head_layernorm`, `classifier`. LayerNorm weights are stored as offsets from 1 in both.

Preprocessing: RGB in [0, 1]; the card's mean 0 / std 1 are kept whatever a processor file says
(the reference processor does not normalise).
"""

from __future__ import annotations

from typing import Any

from models.convert.common import CheckpointError, HFFormat, Rules, hf_vit_fields
from models.videoprism import VideoPrism, VideoPrismConfig

_VM = r"vision_model\."
_LAYER = _VM + r"(spatial|temporal)_layers\.(\d+)\."
_WB = r"\.(weight|bias)"
_STACK = {"spatial": "blocks", "temporal": "temporal_blocks"}
RULES: Rules = (
    (_VM + r"spatial_embeddings\.patch_embeddings\.projection" + _WB, r"patch_embed.proj.\1"),
    (_VM + r"spatial_embeddings\.position_embeddings", "pos_embed"),
    (_VM + r"temporal_embeddings\.position_embeddings", "time_embed"),
    *(
        (_VM + rf"{stage}_layers\.(\d+)\.{hf}" + _WB, rf"{stack}.\1.{ours}.\2")
        for stage, stack in _STACK.items()
        for hf, ours in (
            ("attention.q_proj", "attn.q"),
            ("attention.k_proj", "attn.k"),
            ("attention.v_proj", "attn.v"),
            ("attention.o_proj", "attn.proj"),
            ("layernorm_before", "norm1"),
            ("layernorm_after", "norm2"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        )
    ),
    (_VM + r"layernorm1" + _WB, r"spatial_norm.\1"),
    (_VM + r"layernorm2" + _WB, r"temporal_norm.\1"),
    (r"head\.pooling_attention_query", "pool_query"),
    (r"head\.per_dim_scale", "pool.per_dim_scale"),
    (r"head\.([qkvo]_proj)" + _WB, r"pool.\1.\2"),
    (r"head_layernorm" + _WB, r"pool_norm.\1"),
    (r"classifier" + _WB, r"head.\1"),
)


def config_from_hf(hf: dict[str, Any]) -> VideoPrismConfig:
    tubelet = list(hf.get("tubelet_size", [1, 18, 18]))
    if len(tubelet) != 3 or tubelet[0] != 1 or tubelet[1] != tubelet[2]:
        raise CheckpointError(f"unsupported VideoPrism tubelet_size {tubelet}: expected [1, p, p]")
    return VideoPrismConfig(
        num_frames=int(hf.get("num_frames", 16)),
        patch_size=int(tubelet[1]),
        temporal_depth=int(hf.get("num_temporal_layers", 4)),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        softcap=float(hf.get("attn_logit_softcapping", 50.0)),
        **hf_vit_fields(hf, norm_eps=1e-6, image_size=288, depth_key="num_spatial_layers"),
    )


FORMAT = HFFormat(
    model_cls=VideoPrism,
    config_from_hf=config_from_hf,
    rules=RULES,
    fuse_qkv=True,
    default_norm=None,  # RGB in [0, 1]: the card's mean 0 / std 1
)
