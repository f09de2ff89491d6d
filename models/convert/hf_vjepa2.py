"""HF `VJEPA2ForVideoClassification` folders → `VJEPA2`.

Encoder: `vjepa2.encoder.embeddings.patch_embeddings.proj`, `vjepa2.encoder.layer.{i}.{norm1,
attention.{query,key,value,proj}, norm2, mlp.fc1, mlp.fc2}`, `vjepa2.encoder.layernorm`; q, k, v are
fused into one `qkv`. Pooler: `pooler.query_tokens`, `pooler.self_attention_layers.{k}.{layer_norm1,
self_attn.{q,k,v,out}_proj, layer_norm2, mlp}` (fused likewise) and `pooler.cross_attention_layer.
{layer_norm1, cross_attn.{q,k,v}_proj, layer_norm2, mlp}`; `classifier`. The pretraining predictor
(`vjepa2.predictor.*`), stored in every hub file, is dropped.
"""

from __future__ import annotations

from typing import Any

from models.card import IMAGENET_MEAN, IMAGENET_STD
from models.convert.common import HFFormat, Rules, hf_gelu, hf_num_classes, square
from models.vjepa2 import VJEPA2, VJEPA2Config

_ENC = r"vjepa2\.encoder\."
_LAYER = _ENC + r"layer\.(\d+)\."
_SELF = r"pooler\.self_attention_layers\.(\d+)\."
_CROSS = r"pooler\.cross_attention_layer\."
_WB = r"\.(weight|bias)"
RULES: Rules = (
    (_ENC + r"embeddings\.patch_embeddings\.proj" + _WB, r"patch_embed.proj.\1"),
    *(
        (_LAYER + rf"attention\.{hf}" + _WB, rf"blocks.\1.attn.{ours}.\2")
        for hf, ours in (("query", "q"), ("key", "k"), ("value", "v"), ("proj", "proj"))
    ),
    (_LAYER + r"(norm1|norm2|mlp\.fc1|mlp\.fc2)" + _WB, r"blocks.\1.\2.\3"),
    (_ENC + r"layernorm" + _WB, r"norm.\1"),
    *(
        (_SELF + rf"self_attn\.{hf}_proj" + _WB, rf"pooler.blocks.\1.attn.{ours}.\2")
        for hf, ours in (("q", "q"), ("k", "k"), ("v", "v"), ("out", "proj"))
    ),
    (_SELF + r"layer_norm(1|2)" + _WB, r"pooler.blocks.\1.norm\2.\3"),
    (_SELF + r"mlp\.(fc1|fc2)" + _WB, r"pooler.blocks.\1.mlp.\2.\3"),
    (_CROSS + r"cross_attn\.([qkv]_proj)" + _WB, r"pooler.cross.attn.\1.\2"),
    (_CROSS + r"layer_norm(1|2)" + _WB, r"pooler.cross.norm\1.\2"),
    (_CROSS + r"mlp\.(fc1|fc2)" + _WB, r"pooler.cross.mlp.\1.\2"),
    (r"classifier" + _WB, r"head.\1"),
)
DROP = (r"vjepa2\.predictor\..*",)


def config_from_hf(hf: dict[str, Any]) -> VJEPA2Config:
    """`frames_per_clip` and `crop_size` give the input; the encoder's MLP is `hidden · mlp_ratio` wide."""
    dim = int(hf.get("hidden_size", 1024))
    return VJEPA2Config(
        num_frames=int(hf.get("frames_per_clip", 64)),
        image_size=int(hf.get("crop_size", 256)),
        patch_size=square(hf.get("patch_size", 16), "patch_size"),
        tubelet_size=int(hf.get("tubelet_size", 2)),
        in_chans=int(hf.get("in_chans", 3)),
        num_classes=hf_num_classes(hf),
        embed_dim=dim,
        depth=int(hf.get("num_hidden_layers", 24)),
        num_heads=int(hf.get("num_attention_heads", 16)),
        mlp_dim=int(dim * float(hf.get("mlp_ratio", 4.0))),
        qkv_bias="qkv" if hf.get("qkv_bias", True) else "none",
        gelu=hf_gelu(hf),
        norm_eps=float(hf.get("layer_norm_eps", 1e-6)),
        pooler_depth=int(hf.get("num_pooler_layers", 3)),
    )


FORMAT = HFFormat(
    model_cls=VJEPA2,
    config_from_hf=config_from_hf,
    rules=RULES,
    drop=DROP,
    fuse_qkv=True,
    default_norm=(IMAGENET_MEAN, IMAGENET_STD),
)
