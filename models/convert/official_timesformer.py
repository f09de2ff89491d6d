"""Official TimeSformer checkpoints (`.pyth`, facebookresearch/TimeSformer) → `TimeSformer`.

The file is a dict with `model_state` (a bare state dict is accepted too) whose keys carry a `model.`
prefix; beneath it the names are ours: `cls_token, pos_embed, time_embed, patch_embed.proj.*,
blocks.{i}.{norm1, attn.qkv, attn.proj, temporal_norm1, temporal_attn.qkv, temporal_attn.proj,
temporal_fc, norm2, mlp.fc1, mlp.fc2}.*, norm.*, head.*`.

The architecture is read from the shapes: attention type (temporal keys → divided; `time_embed` without
them → joint; neither → space-only, averaging tokens before the final norm as the official code),
frames, image and patch size, width, depth, MLP width, classes. The head count is not stored: every
official model is ViT-Base (64-dim heads), so `embed_dim // 64` unless `num_heads` is given. Labels are
not stored either (pass `labels=`); preprocessing is the official one (mean 0.45, std 0.225, stride
sampling 8×32 / 16×16 / 96×4). A space-only checkpoint stores no frame count: 8 unless `num_frames`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import Tensor

from models.convert.common import CheckpointError, Converted
from models.layers import square_side
from models.timesformer import TimeSformer, TimeSformerConfig

PREFIX = "model."
SIGNATURE = ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "head.weight")


def extract_state_dict(loaded: Any) -> dict[str, Tensor] | None:
    """The tensors of an official checkpoint, prefix stripped; None when it does not look like one."""
    raw = loaded.get("model_state", loaded) if isinstance(loaded, dict) else None
    if not isinstance(raw, dict):
        return None
    sd = {
        (k[len(PREFIX) :] if k.startswith(PREFIX) else k): v for k, v in raw.items() if isinstance(v, Tensor)
    }
    return sd if all(k in sd for k in SIGNATURE) else None


def checkpoint_filter_fn(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official keys are already ours once `model.` is stripped."""
    return {(k[len(PREFIX) :] if k.startswith(PREFIX) else k): v for k, v in state_dict.items()}


def config_from_state_dict(
    sd: dict[str, Tensor], *, num_heads: int | None = None, num_frames: int | None = None
) -> TimeSformerConfig:
    if "blocks.0.temporal_attn.qkv.weight" in sd:
        attention = "divided_space_time"
    elif "time_embed" in sd:
        attention = "joint_space_time"
    else:
        attention = "space_only"
    proj = sd["patch_embed.proj.weight"]  # [D, C, p, p]
    dim, in_chans, patch = proj.shape[0], proj.shape[1], proj.shape[-1]
    side = square_side(sd["pos_embed"].shape[1] - 1, "pos_embed")
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    heads = num_heads or max(dim // 64, 1)
    if dim % heads:
        raise CheckpointError(f"embed_dim {dim} is not divisible by num_heads {heads}; pass num_heads=")
    frames = sd["time_embed"].shape[1] if "time_embed" in sd else (num_frames or 8)
    return TimeSformerConfig(
        num_frames=int(frames),
        image_size=side * patch,
        patch_size=patch,
        in_chans=in_chans,
        num_classes=sd["head.weight"].shape[0],
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        mlp_dim=sd["blocks.0.mlp.fc1.weight"].shape[0],
        qkv_bias="qkv" if "blocks.0.attn.qkv.bias" in sd else "none",
        attention=attention,  # type: ignore[arg-type]
        space_only_pool="tokens",
    )


def convert(
    sd: dict[str, Tensor],
    *,
    name: str,
    source: str,
    num_heads: int | None = None,
    num_frames: int | None = None,
) -> Converted:
    state_dict = checkpoint_filter_fn(sd)
    config = config_from_state_dict(state_dict, num_heads=num_heads, num_frames=num_frames)
    card = replace(TimeSformer.default_card(config, name=name), source=source)
    return Converted(model_cls=TimeSformer, config=config, card=card, state_dict=state_dict)
