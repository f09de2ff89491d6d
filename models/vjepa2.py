"""V-JEPA 2 video classifier (Assran et al. 2025): numerically transformers' `VJEPA2ForVideoClassification`.

Encoder: tubelet Conv3d `(2, p, p)`; tokens `[B, T'·h·w, D]` frame-major, **no cls token, no absolute
position embedding**; `depth` pre-norm joint blocks with **3-D RoPE** on q and k (`models.rope`,
`joint_space_time_rope`), exact GELU, LayerNorm eps 1e-6, final `norm`. RoPE ids come from the token
grid itself, so other frame counts and resolutions need no resampling (transformers takes the row and
column ids from the config's `crop_size`: equal at the configured size, wrong at others; we use the true
grid).

Head (`AttentivePooler`, the official `AttentivePooler(depth=4)`): `pooler_depth` plain self-attention
blocks over **all** encoder tokens (MLP ratio 4 whatever the encoder's), then one cross-attention block:
one learned `query_tokens` `[1, 1, D]` (not normalised) attends over `norm1(tokens)` with q/k/v and **no
output projection**, residual onto the query, then `norm2` → MLP → residual; → `head` (Linear).
The pretraining predictor of the hub files is not part of the classifier (dropped when loading).

Attention maps (`card.attention = "vjepa2"`, reducer below):
* temporal `[B, T', T']`: the last encoder layer's token→token attention summed over the key tokens of
  each frame block and averaged over the query tokens of each frame block, rows renormalised
  (`frame_block_temporal`, as for every joint model without cls);
* spatial `[B, T', h, w]`: the pooler's cross-attention — what the classifier reads — averaged over
  heads, cut into frame blocks and renormalised per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, BlockAttention, frame_block_temporal, register_reducer
from models.base import VideoConfig, VideoModel
from models.blocks import JointSpaceTimeBlock, build_blocks
from models.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from models.layers import Grid, Mlp
from models.pooling import AttentionPool, frame_normalised
from models.registry import TINY, TINY_CARD, build_model, register_model
from models.rope import grid_positions, rope_tables


@dataclass(frozen=True, kw_only=True)
class VJEPA2Config(VideoConfig):
    """ViT-L/16 at 16×256 with an SSv2 head by default. `pooler_mlp_dim` None means `4 · embed_dim`."""

    num_frames: int = 16
    image_size: int = 256
    tubelet_size: int = 2
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    num_classes: int = 174
    pooler_depth: int = 3
    pooler_mlp_dim: int | None = None

    @property
    def pooler_hidden_dim(self) -> int:
        return self.pooler_mlp_dim if self.pooler_mlp_dim is not None else 4 * self.embed_dim


@dataclass(frozen=True, kw_only=True)
class VJEPA2Attention(BlockAttention):
    """pattern `vjepa2`; probs: (last encoder layer `[B, L, L]`, pooler cross-attention `[B, L]`)."""


@register_reducer("vjepa2")
def vjepa2_reducer(attention: BlockAttention) -> AttentionMaps:
    encoder, pooler = attention.probs
    return AttentionMaps(
        frame_block_temporal(encoder, attention.grid), frame_normalised(pooler, attention.grid)
    )


class CrossAttentionBlock(nn.Module):
    """`q + attn(q, norm1(tokens))`, then `+ mlp(norm2(·))`; the query itself is not normalised."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__()
        c, d = config, config.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=c.norm_eps)
        self.attn = AttentionPool(d, c.num_heads, out_proj=False, fused=c.fused_attn)
        self.norm2 = nn.LayerNorm(d, eps=c.norm_eps)
        self.mlp = Mlp(d, c.pooler_hidden_dim, approximate=c.gelu)

    def forward(self, query: Tensor, tokens: Tensor, *, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        out, probs = self.attn(query, self.norm1(tokens), need_weights=need_weights)
        x = query + out
        return x + self.mlp(self.norm2(x)), probs


class AttentivePooler(nn.Module):
    """`blocks` (self-attention over all tokens), then `cross` from `query_tokens`: `[B, L, D]` → `[B, D]`."""

    def __init__(self, config: VJEPA2Config) -> None:
        super().__init__()
        c, d = config, config.embed_dim
        self.query_tokens = nn.Parameter(torch.zeros(1, 1, d))
        kwargs = {**c.block_kwargs(0.0), "qkv_bias": "qkv"}  # the pooler's projections always have biases
        self.blocks = nn.ModuleList(
            JointSpaceTimeBlock(d, c.num_heads, c.pooler_hidden_dim, has_cls=False, **kwargs)
            for _ in range(c.pooler_depth)
        )
        self.cross = CrossAttentionBlock(c)

    def forward(self, tokens: Tensor, grid: Grid, *, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        """Pooled `[B, D]` and, when asked, the cross-attention over the tokens `[B, L]`."""
        for block in self.blocks:
            tokens, _ = block(tokens, grid)
        query = self.query_tokens.expand(tokens.shape[0], -1, -1)
        pooled, probs = self.cross(query, tokens, need_weights=need_weights)
        return pooled[:, 0], None if probs is None else probs[:, 0]


class VJEPA2(VideoModel):
    arch = "vjepa2"
    config_cls = VJEPA2Config
    config: VJEPA2Config

    def __init__(self, config: VJEPA2Config, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c, d = config, config.embed_dim
        self.patch_embed = c.tubelet_embed()
        self.blocks = build_blocks("joint_space_time_rope", c, c.drop_path_rates())
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)
        self.pooler = AttentivePooler(c)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        self._init_weights(self.pooler.query_tokens)

    @classmethod
    def default_card(
        cls, config: VideoConfig, *, name: str = "", labels: tuple[str, ...] | None = None
    ) -> ModelCard:
        # the reference preprocessor: short side to crop·256/224, centre crop, ImageNet mean/std;
        # SSv2 probes: 16 frames at stride 4, 2 clips × 3 crops
        return cls.card_for(
            config,
            attention="vjepa2",
            name=name,
            labels=labels,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            resize_short_side=int(config.image_size * 256 / 224),
            sampling="stride",
            frame_stride=4,
            test_clips=2,
            test_crops=3,
        )

    def embed(self, x: Tensor) -> Tensor:
        """`[B, T, 3, H, W]` → tubelet tokens `[B, T'·h·w, D]` (nothing added: positions are RoPE)."""
        return self.patch_embed(x).reshape(-1, self.grid.tokens, self.config.embed_dim)

    def encode_and_pool(
        self, tokens: Tensor, positions: Tensor, *, return_attention: bool
    ) -> tuple[Tensor, VJEPA2Attention | None]:
        """Encoder + pooler over `tokens` at flat grid indices `positions` (`[L]`, or `[B, L]` for a
        per-clip subset of the grid): pooled features `[B, D]` and the raw probabilities of the last
        encoder layer and of the pooler over these tokens (when asked)."""
        grid = self.grid
        rope = rope_tables(positions, grid, self.config.embed_dim // self.config.num_heads, tokens.dtype)
        last = len(self.blocks) - 1
        encoder: Tensor | None = None
        for i, block in enumerate(self.blocks):
            tokens, attention = block(
                tokens, grid, return_attention=return_attention and i == last, rope=rope
            )
            if attention is not None:
                encoder = attention.probs[0]
        pooled, pooler = self.pooler(self.norm(tokens), grid, need_weights=return_attention)
        if encoder is None or pooler is None:
            return pooled, None
        return pooled, VJEPA2Attention(pattern="vjepa2", grid=grid, probs=(encoder, pooler), has_cls=False)

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        tokens = self.embed(x)
        positions = grid_positions(self.grid, tokens.device)
        pooled, attention = self.encode_and_pool(tokens, positions, return_attention=return_attention)
        return pooled, None if attention is None else vjepa2_reducer(attention)


# --- named constructors ------------------------------------------------------------------------------
_TINY: dict[str, Any] = {**TINY, "pooler_depth": 1}
_TINY_CARD: dict[str, Any] = {**TINY_CARD, "resize_short_side": None}


@register_model
def vjepa2_vitl_fpc16_256_ssv2(**overrides: Any) -> VideoModel:
    """The shape of `facebook/vjepa2-vitl-fpc16-256-ssv2`: ViT-L/16, 16 × 256², 174 SSv2 classes."""
    return build_model(VJEPA2, VJEPA2Config(), name="vjepa2_vitl_fpc16_256_ssv2", **overrides)


@register_model
def vjepa2_tiny(**overrides: Any) -> VideoModel:
    """4 frames of 32², tubelets 2×8×8, width 48 (3 heads of 16: 12 channels rotated, 4 not), 2 layers."""
    config = VJEPA2Config(**_TINY)
    return build_model(VJEPA2, config, name="vjepa2_tiny", card=_TINY_CARD, **overrides)
