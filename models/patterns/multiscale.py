"""`MultiscaleViT`: the clip at several temporal strides, each encoded by its own encoder, fused late.

Branch `s` (one per entry of `strides`, which starts with 1) sees frames `x[:, ::s]` — `⌈T/s⌉` of them,
frame-level tokens (`tubelet_size` 1) — and encodes them with its own `SpaceTimeEncoder` (own patch
embedding, position and time tables of length `⌈T/s⌉`, `factorised_self_attention` blocks, norm, mean
pooling). Fusion is SlowFast's head: the branches' pooled features are concatenated (`[B, S·D]`) and
one linear `head` reads them. Branch `s`'s token `τ` is frame `s·τ`; it stands for frames
`[s·τ, s·τ + s)`.

Maps: each branch's maps by the `factorised_self_attention` reducer; the temporal map is each branch's
`[T/s, T/s]` map brought to the frame grid — row of frame `f` = row of token `⌊f/s⌋`, each column's
probability spread evenly over the frames its token stands for, so rows still sum to 1 — averaged over
branches; the spatial map is the stride-1 branch's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, BlockAttention, reduce_attention, register_reducer
from models.base import VideoConfig, VideoModel
from models.card import ModelCard
from models.contract import Grid
from models.patterns.model import SpaceTimeEncoder, resample_encoder_tables
from models.patterns.temporal import segment_means, segment_picker

BRANCH_PATTERN = "factorised_self_attention"


@dataclass(frozen=True, kw_only=True)
class MultiscaleConfig(VideoConfig):
    """`strides`: the frame strides of the branches, increasing, the first 1; `depth` layers per branch."""

    num_frames: int = 16
    image_size: int = 224
    strides: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))  # JSON gives a list
        super().__post_init__()
        s = self.strides
        if not s or s[0] != 1 or list(s) != sorted(set(s)):
            raise ValueError(f"strides must increase from 1, got {s}")
        if self.tubelet_size != 1:
            raise ValueError("a multiscale model takes frame-level tokens: tubelet_size must be 1")

    def branch_frames(self, stride: int) -> int:
        return math.ceil(self.num_frames / stride)


@dataclass(frozen=True, kw_only=True)
class MultiscaleAttention(BlockAttention):
    """The last block's attention of every branch (`branches[i]` at `strides[i]`); `probs` is empty."""

    branches: tuple[BlockAttention, ...]
    strides: tuple[int, ...]


class MultiscaleViT(VideoModel):
    """One `SpaceTimeEncoder` per stride, concatenated pooled features, one linear head."""

    arch = "multiscale_vit"
    config_cls = MultiscaleConfig
    config: MultiscaleConfig

    def __init__(self, config: MultiscaleConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c = config
        self.branches = nn.ModuleList(
            SpaceTimeEncoder(c, num_frames=c.branch_frames(s), pattern=BRANCH_PATTERN) for s in c.strides
        )
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(len(c.strides) * c.embed_dim, c.num_classes)
        self._init_weights(
            *(p for name, p in self.named_parameters() if name.endswith(("pos_embed", "time_embed")))
        )

    @property
    def blocks(self) -> nn.ModuleList:
        """The stride-1 branch's blocks: the full frame rate's tokens (what a training probe hooks)."""
        blocks = self.branches[0].blocks
        assert isinstance(blocks, nn.ModuleList)
        return blocks

    @classmethod
    def default_card(
        cls, config: VideoConfig, *, name: str = "", labels: tuple[str, ...] | None = None
    ) -> ModelCard:
        assert isinstance(config, MultiscaleConfig)
        return cls.card_for(config, attention="multiscale", name=name, labels=labels, prefix="multiscale")

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        pooled, attentions = [], []
        for stride, branch in zip(self.config.strides, self.branches, strict=True):
            features, attention = branch(x[:, ::stride], return_attention=return_attention)
            pooled.append(features)
            attentions.append(attention)
        features = torch.cat(pooled, dim=-1)
        if not return_attention:
            return features, None
        kept = tuple(a for a in attentions if a is not None)
        multiscale = MultiscaleAttention(
            pattern="multiscale",
            grid=self.grid,
            probs=(),
            has_cls=False,
            branches=kept,
            strides=self.config.strides,
        )
        return features, reduce_attention(multiscale)

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample each branch's `time_embed` (linear, to its `⌈T/s⌉` frames) and `pos_embed` (bilinear)."""
        strides = {f"branches.{i}.": s for i, s in enumerate(self.config.strides)}
        return resample_encoder_tables(state_dict, self.grid, strides)


def to_frame_grid(temporal: Tensor, t: int, stride: int) -> Tensor:
    """A branch's `[B, ⌈t/s⌉, ⌈t/s⌉]` map → `[B, t, t]`: rows copied to their frames, columns spread."""
    picker = segment_picker(t, stride, dtype=temporal.dtype, device=temporal.device)  # [t, G]
    spread = segment_means(t, stride, dtype=temporal.dtype, device=temporal.device)  # [G, t]
    return picker @ temporal @ spread


@register_reducer("multiscale")
def multiscale_reducer(attention: BlockAttention) -> AttentionMaps:
    """Temporal: branches' maps on the frame grid, averaged; spatial: the stride-1 branch's."""
    if not isinstance(attention, MultiscaleAttention):
        raise TypeError(f"multiscale maps need a MultiscaleAttention, got {type(attention).__name__}")
    t = attention.grid.t
    maps = [reduce_attention(branch) for branch in attention.branches]
    temporal = torch.stack(
        [to_frame_grid(m.temporal, t, s) for m, s in zip(maps, attention.strides, strict=True)]
    )
    return AttentionMaps(temporal.mean(dim=0), maps[0].spatial)
