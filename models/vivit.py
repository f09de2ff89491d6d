"""ViViT (Arnab et al. 2021): Model 1 (joint spatio-temporal) and Model 2 (factorised encoder).

Model 1 (`ViViT`) is numerically HF `VivitForVideoClassification`: tubelet Conv3d, a learned position
embedding over `[cls; T'·h·w]` (frame-major tubelets), joint attention, LayerNorm eps 1e-6,
**tanh-approximate GELU** (scenic's flax `gelu`), final norm → cls → head.

Model 2 (`ViViTFactorised`, scenic's factorised encoder): a spatial ViT runs on every tubelet slice
(`[B·T', 1 + h·w, D]`, shared weights, its own cls and `pos_embed`, `spatial_norm`); the per-slice cls
outputs form `T'` frame tokens; a temporal transformer (`temporal_blocks`) runs over
`[temporal_cls; frames] + temporal_pos_embed` with its own final `norm`; its cls feeds the head.

Other frame counts / resolutions (`adapt_state_dict`): learned position embeddings are resampled on their
grid with linear interpolation (Model 1: trilinear over `(T', h, w)`; Model 2: bilinear over `(h, w)`
and linear over `T'`), the cls position kept. (HF's `interpolate_pos_encoding` only handles the spatial
case and is wrong for video; we do not use it.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, reduce_attention
from models.base import VideoConfig, VideoModel, resample_prefixed_1d, resample_prefixed_2d
from models.blocks import build_blocks, run_blocks
from models.card import ModelCard
from models.layers import GeluApprox, Grid, prepend_cls, resample_3d, square_side

VIVIT_MEAN = (0.5, 0.5, 0.5)
VIVIT_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True, kw_only=True)
class ViViTConfig(VideoConfig):
    num_frames: int = 32
    image_size: int = 224
    tubelet_size: int = 2
    gelu: GeluApprox = "tanh"


@dataclass(frozen=True, kw_only=True)
class ViViTFactorisedConfig(ViViTConfig):
    """`depth` spatial layers, then `temporal_depth` temporal layers."""

    temporal_depth: int = 4


#: scenic's K400 protocol (ViViT, MTV): [-1, 1] input, 32 frames at stride 2, 4 temporal clips x 3 crops
SCENIC_K400_POLICY: Mapping[str, Any] = MappingProxyType(
    {
        "mean": VIVIT_MEAN,
        "std": VIVIT_STD,
        "sampling": "stride",
        "frame_stride": 2,
        "test_clips": 4,
        "test_crops": 3,
    }
)


class ViViT(VideoModel):
    """ViViT Model 1: joint attention over `[B, 1 + T'·h·w, D]` tubelet tokens."""

    arch = "vivit"
    config_cls = ViViTConfig
    config: ViViTConfig
    card_attention = "joint_space_time"
    card_policy = SCENIC_K400_POLICY

    def __init__(self, config: ViViTConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c, d = config, config.embed_dim
        self.patch_embed = c.tubelet_embed()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.grid.tokens, d))
        self.pos_drop = nn.Dropout(c.drop_rate)
        self.blocks = build_blocks("joint_space_time", c, c.drop_path_rates())
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        self._init_weights(self.cls_token, self.pos_embed)

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        grid, d = self.grid, self.config.embed_dim
        patches = self.patch_embed(x).reshape(-1, grid.tokens, d)
        tokens = prepend_cls(self.cls_token, patches) + self.pos_embed
        tokens, attention = run_blocks(
            self.blocks, self.pos_drop(tokens), grid, return_attention=return_attention
        )
        return self.norm(tokens[:, 0]), reduce_attention(attention)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample `pos_embed` trilinearly over `(T', h, w)` when the checkpoint's grid differs.

        `source_grid` is the checkpoint's grid; when None it is inferred from the token count (only
        frames, or only the resolution, differing).
        """
        sd = dict(state_dict)
        grid = self.grid
        source = source_grid or _infer_grid(sd, grid)
        if "pos_embed" in sd and source != grid:
            pos = sd["pos_embed"]
            sd["pos_embed"] = torch.cat((pos[:, :1], resample_3d(pos[:, 1:], source, grid)), dim=1)
        return sd


def _infer_grid(sd: dict[str, Tensor], grid: Grid) -> Grid:
    """The grid a checkpoint's joint `pos_embed` was trained on, assuming only T' or only h = w differ."""
    if "pos_embed" not in sd:
        return grid
    tokens = sd["pos_embed"].shape[1] - 1
    if tokens % grid.patches == 0:
        return Grid(tokens // grid.patches, grid.h, grid.w)
    if tokens % grid.t == 0:
        side = square_side(tokens // grid.t, "pos_embed")
        return Grid(grid.t, side, side)
    raise ValueError(
        f"cannot infer the grid of a pos_embed with {tokens} tokens for target grid {tuple(grid)}"
    )


class ViViTFactorised(VideoModel):
    """ViViT Model 2: spatial ViT per tubelet slice, then a temporal transformer over the slice vectors."""

    arch = "vivit_fe"
    config_cls = ViViTFactorisedConfig
    config: ViViTFactorisedConfig
    card_attention = "factorised_encoder"
    card_policy = SCENIC_K400_POLICY

    def __init__(self, config: ViViTFactorisedConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c, d = config, config.embed_dim
        self.patch_embed = c.tubelet_embed()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.grid.patches, d))
        self.pos_drop = nn.Dropout(c.drop_rate)
        rates = c.drop_path_rates(c.depth + c.temporal_depth)
        self.blocks = build_blocks("space_only", c, rates[: c.depth])
        self.spatial_norm = nn.LayerNorm(d, eps=c.norm_eps)
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, 1 + c.grid.t, d))
        self.temporal_blocks = build_blocks("joint_space_time", c, rates[c.depth :])  # over Grid(T', 1, 1)
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        self._init_weights(self.cls_token, self.pos_embed, self.temporal_cls_token, self.temporal_pos_embed)

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        grid, d = self.grid, self.config.embed_dim
        patches = self.patch_embed(x).reshape(-1, grid.patches, d)  # [B·T', n, D]
        tokens = prepend_cls(self.cls_token, patches) + self.pos_embed
        tokens, spatial = run_blocks(
            self.blocks, self.pos_drop(tokens), grid, return_attention=return_attention
        )
        frames = self.spatial_norm(tokens[:, 0]).reshape(-1, grid.t, d)  # [B, T', D]
        # [B, 1 + T', D]: the temporal transformer's tokens, one per frame, i.e. the grid (T', 1, 1)
        seq = prepend_cls(self.temporal_cls_token, frames) + self.temporal_pos_embed
        seq, temporal = run_blocks(
            self.temporal_blocks, seq, Grid(grid.t, 1, 1), return_attention=return_attention
        )
        spatial_maps, temporal_maps = reduce_attention(spatial), reduce_attention(temporal)
        if spatial_maps is None or temporal_maps is None:
            return self.norm(seq[:, 0]), None
        return self.norm(seq[:, 0]), AttentionMaps(temporal_maps.temporal, spatial_maps.spatial)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample the spatial `pos_embed` (bilinear) and `temporal_pos_embed` (linear), cls kept."""
        sd = dict(state_dict)
        grid = self.grid
        resample_prefixed_2d(sd, "pos_embed", grid, mode="bilinear")
        resample_prefixed_1d(sd, "temporal_pos_embed", grid.t, prefix=1, mode="linear")
        return sd
