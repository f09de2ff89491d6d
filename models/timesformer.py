"""TimeSformer (Bertasius et al. 2021): divided space–time, joint space–time and space-only attention.

Numerically the official `timesformer/models/vit.py` (and HF `TimesformerForVideoClassification` at its
configured frame count). Parameter names follow the official checkpoint (without its `model.` prefix).

Embeddings: per-frame Conv2d patches; `pos_embed` `[1, 1 + h·w, D]` is added to `[cls; patches]` of
every frame; `time_embed` `[1, T, D]` to the patch tokens only (never to cls; absent for space-only).

* divided / joint: tokens `[B, 1 + T·h·w, D]` (frame-major, see `models.blocks`); head on the final
  norm of the cls token.
* space-only: tokens `[B·T, 1 + h·w, D]`, each frame with its own cls; frames never interact.
  `space_only_pool="tokens"` (official): the T cls outputs are averaged *before* the final norm.
  `space_only_pool="logits"` (HF): the head runs per frame and the T logits are averaged — HF returns the
  per-frame logits `[B·T, C]`, and we return their mean over frames. The two differ (the norm is not
  linear); converters set the one the checkpoint was made with.

Other frame counts / resolutions (`adapt_state_dict`): as the official code — `time_embed` resampled
along time with `nearest`, the 2D `pos_embed` grid with `nearest`, cls position kept. HF is silently
wrong when T ≠ `config.num_frames` (it reshapes with the config's frame count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, reduce_attention
from models.base import VideoConfig, VideoModel, resample_prefixed_2d
from models.blocks import build_blocks, run_blocks
from models.card import KINETICS_MEAN, KINETICS_STD, ModelCard
from models.layers import Grid, PatchEmbed, prepend_cls, resample_1d
from models.patterns.temporal import resize_offset_tables

TimeSformerAttention = Literal["divided_space_time", "joint_space_time", "space_only"]

#: The official sampling rate per frame count (8×32, HR 16×16, L 96×4).
OFFICIAL_FRAME_STRIDE = {8: 32, 16: 16, 96: 4}


def official_policy(num_frames: int) -> dict[str, Any]:
    """The official TimeSformer test protocol at `num_frames`: Kinetics mean/std, frames sampled at the
    published stride (`OFFICIAL_FRAME_STRIDE`, 32 for other counts), 3 spatial crops."""
    return {
        "mean": KINETICS_MEAN,
        "std": KINETICS_STD,
        "sampling": "stride",
        "frame_stride": OFFICIAL_FRAME_STRIDE.get(num_frames, 32),
        "test_crops": 3,
    }


@dataclass(frozen=True, kw_only=True)
class TimeSformerConfig(VideoConfig):
    num_frames: int = 8
    image_size: int = 224
    attention: TimeSformerAttention = "divided_space_time"
    space_only_pool: Literal["tokens", "logits"] = "tokens"
    temporal_rel_pos: bool = False  # divided only: a learned relative temporal bias in every block

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attention not in get_args(TimeSformerAttention):
            raise ValueError(
                f"attention must be one of {get_args(TimeSformerAttention)}, got {self.attention!r}"
            )
        if self.temporal_rel_pos and self.attention != "divided_space_time":
            raise ValueError("temporal_rel_pos is an option of divided_space_time attention only")
        if self.tubelet_size != 1:
            raise ValueError("TimeSformer embeds single frames: tubelet_size must be 1")


class TimeSformer(VideoModel):
    arch = "timesformer"
    config_cls = TimeSformerConfig
    config: TimeSformerConfig

    def __init__(self, config: TimeSformerConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c = config
        d = c.embed_dim
        self.patch_embed = PatchEmbed(
            num_frames=c.num_frames,
            image_size=c.image_size,
            patch_size=c.patch_size,
            in_chans=c.in_chans,
            dim=d,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + c.grid.patches, d))
        self.space_only = c.attention == "space_only"
        if not self.space_only:
            self.time_embed = nn.Parameter(torch.zeros(1, c.num_frames, d))
        self.pos_drop = nn.Dropout(c.drop_rate)
        rel_pos = {"rel_pos_frames": c.grid.t} if c.temporal_rel_pos else {}
        self.blocks = build_blocks(c.attention, c, c.drop_path_rates(), **rel_pos)
        self.norm = nn.LayerNorm(d, eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(d, c.num_classes)
        embeds = [self.cls_token, self.pos_embed] + ([] if self.space_only else [self.time_embed])
        self._init_weights(*embeds)

    @classmethod
    def default_card(
        cls, config: VideoConfig, *, name: str = "", labels: tuple[str, ...] | None = None
    ) -> ModelCard:
        assert isinstance(config, TimeSformerConfig)
        return cls.card_for(
            config,
            attention=config.attention,
            name=name,
            labels=labels,
            **official_policy(config.num_frames),
        )

    def _tokens(self, x: Tensor) -> Tensor:
        """`[B, 1 + T·n, D]` (divided / joint) or `[B·T, 1 + n, D]` (space-only), embeddings added."""
        grid, d = self.grid, self.config.embed_dim
        patches = self.patch_embed(x) + self.pos_embed[:, 1:].unsqueeze(1)  # [B, T, n, D]
        cls = self.cls_token + self.pos_embed[:, :1]  # [1, 1, D]
        if self.space_only:
            patches = patches.reshape(-1, grid.patches, d)  # [B·T, n, D]
        else:
            patches = (patches + self.time_embed.unsqueeze(2)).reshape(-1, grid.tokens, d)  # [B, T·n, D]
        return prepend_cls(cls, patches)

    def _pool(self, tokens: Tensor) -> Tensor:
        """The final norm of the cls token; space-only averages its T cls (see `space_only_pool`)."""
        if not self.space_only:
            return self.norm(tokens[:, 0])
        cls_out = tokens[:, 0].reshape(-1, self.grid.t, self.config.embed_dim)  # [B, T, D]
        if self.config.space_only_pool == "tokens":
            return self.norm(cls_out.mean(dim=1))
        return self.norm(cls_out).mean(dim=1)

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        tokens = self.pos_drop(self._tokens(x))
        tokens, attention = run_blocks(self.blocks, tokens, self.grid, return_attention=return_attention)
        return self._pool(tokens), reduce_attention(attention)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample `pos_embed` (2D grid, nearest) and `time_embed` (nearest) to this model's grid; relative
        temporal bias tables keep their offsets (cropped, or edge rows repeated, to `±(T' − 1)`)."""
        sd = resize_offset_tables(state_dict, "temporal_rel_pos.table", self.grid.t - 1)
        grid = self.grid
        resample_prefixed_2d(sd, "pos_embed", grid, mode="nearest")
        if not self.space_only and "time_embed" in sd:
            sd["time_embed"] = resample_1d(sd["time_embed"], grid.t, mode="nearest")
        return sd
