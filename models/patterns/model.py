"""`PatternViT`: one video transformer for every single-stack attention pattern of `models.patterns`.

Tokens: tubelet Conv3d `(tubelet, patch, patch)` (`tubelet_size=1`: per-frame patches) → `[B, T', h·w, D]`;
a learned spatial table `pos_embed` `[1, h·w, D]` and a learned temporal table `time_embed` `[1, T', D]`
are added (separable, as TimeSformer's; ViViT's scenic code uses one table over all `T'·h·w` tokens);
then `[B, T'·h·w, D]` frame-major with no cls → the pattern's blocks → `norm` → mean over all tokens →
`head` (ViViT Models 3/4: `encoder_norm`, `classifier='gap'`). `SpaceTimeEncoder` is that encoder without
the head; `models.patterns.multiscale` runs one per temporal stride. Both share `_Encoder`'s parts
and forward, with the flat attribute names of every model here.

Other frame counts / resolutions (`adapt_state_dict`): `time_embed` resampled linearly, `pos_embed`
bilinearly; relative temporal bias tables do not depend on the frame count (their range is the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, BlockAttention, reduce_attention
from models.base import VideoConfig, VideoModel
from models.blocks import build_blocks, run_blocks
from models.card import ModelCard
from models.contract import Grid, token_grid
from models.layers import TubeletEmbed, resample_1d, resample_2d, square_side
from models.patterns import axial, dot_product, factorised  # noqa: F401  (register blocks and reducers)

PatternAttention = Literal[
    "factorised_self_attention",
    "factorised_dot_product",
    "axial",
    "local_global",
    "strided_sparse",
    "windowed",
]
PATTERNS: tuple[str, ...] = get_args(PatternAttention)


@dataclass(frozen=True, kw_only=True)
class PatternConfig(VideoConfig):
    """`attention` picks the blocks; `temporal_window` (odd) is the window of `windowed` and the local
    part of `local_global`; `temporal_stride` is `strided_sparse`'s stride and `local_global`'s summary
    segment length (both in temporal tokens, i.e. tubelets)."""

    num_frames: int = 16
    image_size: int = 224
    attention: PatternAttention = "factorised_self_attention"
    temporal_window: int = 3
    temporal_stride: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attention not in PATTERNS:
            raise ValueError(f"attention must be one of {PATTERNS}, got {self.attention!r}")
        if self.temporal_window < 1 or self.temporal_window % 2 == 0:
            raise ValueError(f"temporal_window must be odd and >= 1, got {self.temporal_window}")
        if self.temporal_stride < 1:
            raise ValueError(f"temporal_stride must be >= 1, got {self.temporal_stride}")
        if self.attention == "factorised_dot_product" and self.num_heads % 2:
            raise ValueError(f"factorised_dot_product needs an even num_heads, got {self.num_heads}")

    def block_options(self) -> dict[str, Any]:
        """The pattern-specific keyword arguments of this config's block class."""
        return {
            "windowed": {"window": self.temporal_window},
            "strided_sparse": {"stride": self.temporal_stride},
            "local_global": {"window": self.temporal_window, "stride": self.temporal_stride},
        }.get(self.attention, {})


class _Encoder:
    """The encoder's parts and forward, shared by `SpaceTimeEncoder` and `PatternViT` (flat attributes,
    as every model here: `patch_embed`, `pos_embed`, `time_embed`, `pos_drop`, `blocks`, `norm`)."""

    encoder_grid: Grid
    patch_embed: TubeletEmbed
    pos_embed: nn.Parameter
    time_embed: nn.Parameter
    pos_drop: nn.Dropout
    blocks: nn.ModuleList
    norm: nn.LayerNorm

    def _build_encoder(
        self, config: VideoConfig, *, num_frames: int, pattern: str, options: dict[str, Any] | None = None
    ) -> None:
        """Parts for `num_frames` frames (a multiscale branch sees fewer than the config's), `pattern`'s
        blocks with `options`, the config's drop-path rates."""
        c, d = config, config.embed_dim
        self.encoder_grid = token_grid(
            num_frames=num_frames,
            image_size=c.image_size,
            patch_size=c.patch_size,
            tubelet_size=c.tubelet_size,
        )
        self.patch_embed = TubeletEmbed(
            num_frames=num_frames,
            image_size=c.image_size,
            patch_size=c.patch_size,
            tubelet_size=c.tubelet_size,
            in_chans=c.in_chans,
            dim=d,
        )
        self.pos_embed = nn.Parameter(torch.zeros(1, self.encoder_grid.patches, d))
        self.time_embed = nn.Parameter(torch.zeros(1, self.encoder_grid.t, d))
        self.pos_drop = nn.Dropout(c.drop_rate)
        self.blocks = build_blocks(pattern, c, c.drop_path_rates(), **(options or {}))
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)

    def _encode(self, x: Tensor, *, return_attention: bool) -> tuple[Tensor, BlockAttention | None]:
        """`[B, T, C, H, W]` → (pooled `[B, D]`, the last block's attention or None)."""
        grid, d = self.encoder_grid, self.pos_embed.shape[-1]
        tokens = self.patch_embed(x) + self.pos_embed.unsqueeze(1) + self.time_embed.unsqueeze(2)
        tokens, attention = run_blocks(
            self.blocks,
            self.pos_drop(tokens.reshape(-1, grid.tokens, d)),
            grid,
            return_attention=return_attention,
        )
        return self.norm(tokens).mean(dim=1), attention


class SpaceTimeEncoder(_Encoder, nn.Module):
    """Tubelet tokens + separable learned positions → blocks → `norm` → mean: `[B, T, C, H, W]` → `[B, D]`.

    `num_frames` may differ from `config.num_frames` (a multiscale branch sees a subsampled clip).
    """

    def __init__(self, config: VideoConfig, *, num_frames: int, pattern: str) -> None:
        super().__init__()
        self._build_encoder(config, num_frames=num_frames, pattern=pattern)

    @property
    def grid(self) -> Grid:
        return self.encoder_grid

    def forward(self, x: Tensor, *, return_attention: bool = False) -> tuple[Tensor, BlockAttention | None]:
        return self._encode(x, return_attention=return_attention)


class PatternViT(_Encoder, VideoModel):
    """The encoder of the config's pattern and a linear head (see the module docstring)."""

    arch = "pattern_vit"
    config_cls = PatternConfig
    config: PatternConfig

    def __init__(self, config: PatternConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c = config
        self._build_encoder(c, num_frames=c.num_frames, pattern=c.attention, options=c.block_options())
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(c.embed_dim, c.num_classes)
        self._init_weights(self.pos_embed, self.time_embed)

    @classmethod
    def default_card(
        cls, config: VideoConfig, *, name: str = "", labels: tuple[str, ...] | None = None
    ) -> ModelCard:
        assert isinstance(config, PatternConfig)
        return cls.card_for(
            config, attention=config.attention, name=name, labels=labels, prefix=config.attention
        )

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        features, attention = self._encode(x, return_attention=return_attention)
        return features, reduce_attention(attention)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample every `time_embed` (linear) and `pos_embed` (bilinear) to this model's grid."""
        return resample_encoder_tables(state_dict, self.grid)


def resample_encoder_tables(
    state_dict: dict[str, Tensor], grid: Grid, strides: dict[str, int] | None = None
) -> dict[str, Tensor]:
    """`*time_embed` `[1, n, D]` → `[1, ⌈T'/s⌉, D]` (`s` from `strides` by key prefix, else 1) linearly;
    `*pos_embed` `[1, s·s, D]` → `[1, h·w, D]` bilinearly. A new dict; other entries unchanged."""
    sd = dict(state_dict)
    for key, value in state_dict.items():
        if key.endswith("time_embed"):
            stride = (strides or {}).get(key.rpartition("time_embed")[0], 1)
            sd[key] = resample_1d(value, -(-grid.t // stride), mode="linear")
        elif key.endswith("pos_embed") and value.shape[1] != grid.patches:
            side = square_side(value.shape[1], key)
            sd[key] = resample_2d(value, (side, side), (grid.h, grid.w), mode="bilinear")
    return sd
