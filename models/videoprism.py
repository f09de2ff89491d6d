"""VideoPrism classifier (Zhao et al. 2024): numerically transformers' `VideoPrismForVideoClassification`.

A factorised encoder over **all** tokens (no cls anywhere), as transformers implements it:

1. per-frame patches (Conv3d `(1, p, p)`) + a learned spatial `pos_embed` `[1, h·w, D]`;
2. `blocks` (spatial) on `[B·T, h·w, D]`, one sequence per frame, then `spatial_norm`;
3. regrouped by position `[B·h·w, T, D]` + a learned `time_embed` `[1, T, D]`; `temporal_blocks` on
   that, then `temporal_norm`; back to `[B, T·h·w, D]` frame-major;
4. head: one learned `pool_query` attends over all tokens (`AttentionPool` with `head_dim = mlp_dim /
   heads` — 256 at base, not 64 — and the per-dimension query scale `softplus(per_dim_scale)`), then
   `pool_norm` → `head`. (transformers returns logits `[B, 1, C]`; ours are `[B, C]`.)

Two details of every layer: LayerNorms store **offsets** (`OffsetLayerNorm`: weight + 1, zero at init)
and attention logits are **soft-capped**, `cap · tanh(logits / cap)` before the softmax
(`SoftCapAttention`; SDPA cannot do that, so these layers always take the explicit path). Exact GELU.

Other sizes (`adapt_state_dict`): `pos_embed` is resized bilinearly with antialiasing over `(h, w)` and
`time_embed` by the same 2-D resize over `(T, D)` — what transformers does with
`interpolate_pos_encoding=True`. Preprocessing: RGB in [0, 1] (mean 0, std 1); the reference resizes
frames to 288×288 without keeping the aspect ratio, our contract resizes the short side and centre-crops.

Attention maps (`card.attention = "videoprism"`, reducer below): temporal = the last temporal layer's
`[B·h·w, T, T]` attention averaged over heads and positions, rows renormalised; spatial = the pooling
head's attention over the `T·h·w` tokens (what the classifier reads), averaged over heads, renormalised
per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, BlockAttention, register_reducer
from models.base import VideoConfig, VideoModel
from models.blocks import build_blocks, run_blocks
from models.card import ModelCard
from models.layers import Attention, Grid, square_side
from models.pooling import AttentionPool, frame_normalised
from models.registry import TINY, build_model, register_model


@dataclass(frozen=True, kw_only=True)
class VideoPrismConfig(VideoConfig):
    """ViT-B at 16 × 288², patches 18: `depth` spatial then `temporal_depth` temporal layers."""

    num_frames: int = 16
    image_size: int = 288
    patch_size: int = 18
    temporal_depth: int = 4
    softcap: float = 50.0


class OffsetLayerNorm(nn.LayerNorm):
    """LayerNorm whose stored weight is an offset from 1 (`weight + 1` scales the normalised input)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight + 1.0, self.bias, self.eps)


class SoftCapAttention(Attention):
    """`softmax(cap · tanh(q kᵀ · d^-0.5 / cap) + bias)`: always explicit (`fused` stays False)."""

    softcap: float = 50.0

    @property
    def fused(self) -> bool:
        return False

    @fused.setter
    def fused(self, value: bool) -> None:
        del value  # SDPA has no soft-capping: the explicit path is the only one

    def _probs(self, q: Tensor, k: Tensor, attn_bias: Tensor | None) -> Tensor:
        logits = (q @ k.transpose(-2, -1)) * self.scale
        logits = torch.tanh(logits / self.softcap) * self.softcap
        if attn_bias is not None:
            logits = logits + attn_bias
        return logits.softmax(dim=-1)


@dataclass(frozen=True, kw_only=True)
class VideoPrismAttention(BlockAttention):
    """pattern `videoprism`; probs: (last temporal layer `[B·h·w, T, T]`, pooling head `[B, T·h·w]`)."""


@register_reducer("videoprism")
def videoprism_reducer(attention: BlockAttention) -> AttentionMaps:
    temporal, pooling = attention.probs
    grid = attention.grid
    frames = temporal.reshape(-1, grid.patches, grid.t, grid.t).mean(dim=1)
    frames = frames / frames.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return AttentionMaps(frames, frame_normalised(pooling, grid))


class VideoPrism(VideoModel):
    arch = "videoprism"
    config_cls = VideoPrismConfig
    config: VideoPrismConfig
    card_attention = "videoprism"
    # RGB in [0, 1]
    card_policy = MappingProxyType(
        {
            "mean": (0.0, 0.0, 0.0),
            "std": (1.0, 1.0, 1.0),
        }
    )

    def __init__(self, config: VideoPrismConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c, d, grid = config, config.embed_dim, config.grid
        if c.tubelet_size != 1:
            raise ValueError("VideoPrism embeds each frame on its own (tubelet_size 1)")
        layers = {"has_cls": False, "attn_layer": SoftCapAttention, "norm_layer": OffsetLayerNorm}
        rates = c.drop_path_rates(c.depth + c.temporal_depth)
        self.patch_embed = c.tubelet_embed()
        self.pos_embed = nn.Parameter(torch.zeros(1, grid.patches, d))
        self.blocks = build_blocks("joint_space_time", c, rates[: c.depth], **layers)
        self.spatial_norm = OffsetLayerNorm(d, eps=c.norm_eps)
        self.time_embed = nn.Parameter(torch.zeros(1, grid.t, d))
        self.temporal_blocks = build_blocks("joint_space_time", c, rates[c.depth :], **layers)
        self.temporal_norm = OffsetLayerNorm(d, eps=c.norm_eps)
        self.pool_query = nn.Parameter(torch.zeros(1, 1, d))
        self.pool = AttentionPool(
            d,
            c.num_heads,
            head_dim=c.hidden_dim // c.num_heads,
            per_dim_scale=True,
            qkv_bias=c.qkv_bias != "none",
            fused=c.fused_attn,
        )
        self.pool_norm = OffsetLayerNorm(d, eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        self._init_weights(self.pos_embed, self.time_embed, self.pool_query)
        for module in self.modules():
            if isinstance(module, OffsetLayerNorm):
                nn.init.zeros_(module.weight)  # offsets: the effective scale starts at 1
            elif isinstance(module, SoftCapAttention):
                module.softcap = c.softcap

    def encode(self, x: Tensor, *, return_attention: bool) -> tuple[Tensor, BlockAttention | None]:
        """`[B, T, 3, H, W]` → tokens `[B, T·h·w, D]` frame-major, and the last temporal block's attention."""
        grid, d = self.grid, self.config.embed_dim
        tokens = self.patch_embed(x).reshape(-1, grid.patches, d) + self.pos_embed  # [B·T, n, D]
        tokens, _ = run_blocks(self.blocks, tokens, Grid(1, grid.h, grid.w))
        tokens = self.spatial_norm(tokens).reshape(-1, grid.t, grid.patches, d).transpose(1, 2)
        tokens = tokens.reshape(-1, grid.t, d) + self.time_embed  # [B·n, T, D]
        tokens, temporal = run_blocks(
            self.temporal_blocks, tokens, Grid(grid.t, 1, 1), return_attention=return_attention
        )
        tokens = self.temporal_norm(tokens).reshape(-1, grid.patches, grid.t, d).transpose(1, 2)
        return tokens.reshape(-1, grid.tokens, d), temporal

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        tokens, temporal = self.encode(x, return_attention=return_attention)
        query = self.pool_query.expand(tokens.shape[0], -1, -1)
        pooled, pooling = self.pool(query, tokens, need_weights=return_attention)
        features = self.pool_norm(pooled[:, 0])
        if temporal is None or pooling is None:
            return features, None
        attention = VideoPrismAttention(
            pattern="videoprism", grid=self.grid, probs=(temporal.probs[0], pooling[:, 0]), has_cls=False
        )
        return features, videoprism_reducer(attention)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resize `pos_embed` (bilinear, antialiased, over `(h, w)`) and `time_embed` (over `(T, D)`)."""
        sd = dict(state_dict)
        grid = self.grid
        pos, time = sd.get("pos_embed"), sd.get("time_embed")
        if pos is not None and pos.shape[1] != grid.patches:
            side = square_side(pos.shape[1], "pos_embed")
            square = pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
            square = F.interpolate(square, size=(grid.h, grid.w), mode="bilinear", antialias=True)
            sd["pos_embed"] = square.permute(0, 2, 3, 1).reshape(1, grid.patches, -1)
        if time is not None and time.shape[1] != grid.t:
            resized = F.interpolate(
                time.unsqueeze(1), size=(grid.t, time.shape[-1]), mode="bilinear", antialias=True
            )
            sd["time_embed"] = resized.squeeze(1)
        return sd


# --- named constructors ------------------------------------------------------------------------------
_TINY: dict[str, Any] = {**TINY, "temporal_depth": 1}


@register_model
def videoprism_base_f16r288(**overrides: Any) -> VideoModel:
    """The shape of `google/videoprism-base-f16r288` (12 spatial + 4 temporal layers) with a K400-size head
    (no classifier is released: the encoder is frozen and a head is trained on top)."""
    return build_model(
        VideoPrism, VideoPrismConfig(num_classes=400), name="videoprism_base_f16r288", **overrides
    )


@register_model
def videoprism_large_f8r288(**overrides: Any) -> VideoModel:
    """The shape of `google/videoprism-large-f8r288`: ViT-L, 24 spatial + 4 temporal layers, 8 frames."""
    config = VideoPrismConfig(
        num_frames=8, embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096, num_classes=400
    )
    return build_model(VideoPrism, config, name="videoprism_large_f8r288", **overrides)


@register_model
def videoprism_tiny(**overrides: Any) -> VideoModel:
    """4 frames of 32², patches 8, width 48, 2 spatial + 1 temporal layers (soft-cap 50)."""
    return build_model(VideoPrism, VideoPrismConfig(**_TINY), name="videoprism_tiny", **overrides)
