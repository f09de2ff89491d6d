"""The contract every vtserve video model follows: typed config, model card, `forward → VideoOutput`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps
from models.card import ModelCard
from models.contract import InputContract, check_fields
from models.layers import (
    Attention,
    GeluApprox,
    Grid,
    QkvBias,
    TubeletEmbed,
    resample_1d,
    resample_2d,
    square_side,
)
from models.outputs import VideoOutput


@dataclass(frozen=True, kw_only=True)
class VideoConfig:
    """Fields shared by every architecture. The input is fixed per instance: `[B, num_frames, 3, S, S]`.

    `mlp_dim` None means `4 · embed_dim`; `gelu` is exact (`"none"`) or tanh-approximate (`"tanh"`).
    `fused_attn` picks SDPA (True) or explicit softmax (False) for
    every layer; attention maps are computed explicitly in the last layer either way.
    """

    num_frames: int
    image_size: int
    patch_size: int = 16
    tubelet_size: int = 1
    in_chans: int = 3
    num_classes: int = 400
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int | None = None
    qkv_bias: QkvBias = "qkv"
    gelu: GeluApprox = "none"
    norm_eps: float = 1e-6
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    fused_attn: bool = True

    def __post_init__(self) -> None:
        self.input_contract()  # validates that frames and size divide into the token grid
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if min(self.depth, self.num_classes, self.num_frames) < 1:
            raise ValueError("depth, num_classes and num_frames must be positive")

    @property
    def hidden_dim(self) -> int:
        return self.mlp_dim if self.mlp_dim is not None else 4 * self.embed_dim

    @property
    def grid(self) -> Grid:
        """The token grid of this config's input (the contract's, computed in `models.contract`)."""
        return self.input_contract().grid

    @property
    def contract_tubelet(self) -> int:
        """Frames per token of the input contract and the attention grid (a model may derive it: MTV's
        finest view); `tubelet_size` here."""
        return self.tubelet_size

    def input_contract(self, **policy: Any) -> InputContract:
        """This config's input (frames, size, tokenization) with the given sampling/preprocessing policy."""
        return InputContract(
            num_frames=self.num_frames,
            image_size=self.image_size,
            patch_size=self.patch_size,
            tubelet_size=self.contract_tubelet,
            **policy,
        )

    def drop_path_rates(self, depth: int | None = None) -> list[float]:
        n = self.depth if depth is None else depth
        return [self.drop_path_rate * i / max(n - 1, 1) for i in range(n)]

    def block_kwargs(self, drop_path: float) -> dict[str, Any]:
        """The keyword arguments every block of this config takes (bias, norm, GELU, dropout, SDPA)."""
        return {
            "qkv_bias": self.qkv_bias,
            "norm_eps": self.norm_eps,
            "gelu": self.gelu,
            "drop": self.drop_rate,
            "attn_drop": self.attn_drop_rate,
            "drop_path": drop_path,
            "fused": self.fused_attn,
        }

    def tubelet_embed(self, *, tubelet_size: int | None = None, dim: int | None = None) -> TubeletEmbed:
        """The Conv3d tubelet embedding of this config's input (ViViT, VideoMAE, V-JEPA 2, VideoPrism); a
        model with several tokenizations (MTV's views) gives each its own `tubelet_size` and width `dim`."""
        return TubeletEmbed(
            num_frames=self.num_frames,
            image_size=self.image_size,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size if tubelet_size is None else tubelet_size,
            in_chans=self.in_chans,
            dim=self.embed_dim if dim is None else dim,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoConfig:
        check_fields(cls, data, cls.__name__)
        return cls(**data)


def default_labels(n: int) -> tuple[str, ...]:
    return tuple(f"class_{i}" for i in range(n))


def init_module(module: nn.Module) -> None:
    """Linear/Conv trunc_normal(0.02) with zero bias; LayerNorm ones/zeros."""
    if isinstance(module, nn.Linear | nn.Conv2d | nn.Conv3d):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class VideoModel(nn.Module):
    """Base of all models: `forward(x, *, return_attention=False) -> VideoOutput`.

    x: float32 `[B, T, 3, H, W]`, normalised per `self.card` (`(pixel/255 − mean)/std`). T, H, W are
    fixed by `self.config` (the token grid is known when the graph is built); B is free.
    Subclasses implement `forward_features` (pooled features `[B, D]` and, on request, the last layer's
    `AttentionMaps`) and own a `head`; `adapt_state_dict` resamples embeddings of a checkpoint saved at
    another grid (see each subclass for the method).
    """

    arch: ClassVar[str]
    config_cls: ClassVar[type[VideoConfig]]
    #: What `default_card` declares: the pattern the blocks implement and the sampling/preprocessing policy
    #: of the input contract (`mean=…`, `sampling=…`). A card that depends on the config overrides
    #: `default_card` (with `card_for`) instead.
    card_attention: ClassVar[str] = ""
    card_policy: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    head: nn.Linear
    head_drop: nn.Dropout

    def __init__(self, config: VideoConfig, card: ModelCard | None = None) -> None:
        super().__init__()
        if not isinstance(config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_cls.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.card = card if card is not None else self.default_card(config)
        self.registry_name: str | None = None
        self._check_card()

    # --- card -------------------------------------------------------------------------------------
    @classmethod
    def default_card(
        cls, config: VideoConfig, *, name: str = "", labels: tuple[str, ...] | None = None
    ) -> ModelCard:
        if not cls.card_attention:
            raise NotImplementedError(f"{cls.__name__} declares no card_attention and no default_card")
        return cls.card_for(config, attention=cls.card_attention, name=name, labels=labels, **cls.card_policy)

    @classmethod
    def card_for(
        cls,
        config: VideoConfig,
        *,
        attention: str,
        name: str = "",
        labels: tuple[str, ...] | None = None,
        prefix: str = "",
        **policy: Any,
    ) -> ModelCard:
        """The card every `default_card` builds: `name` or `{prefix}_{frames}x{size}` (prefix: `arch`),
        this class's architecture, `attention`, `labels` (default `class_0`, …) and the config's input
        contract under the sampling/preprocessing `policy` (`mean=…`, `sampling=…`, `test_crops=…`)."""
        return ModelCard(
            name=name or f"{prefix or cls.arch}_{config.num_frames}x{config.image_size}",
            architecture=cls.arch,
            attention=attention,
            labels=labels or default_labels(config.num_classes),
            input=config.input_contract(**policy),
        )

    def _check_card(self) -> None:
        c, card = self.config, self.card
        contract = c.input_contract()  # the config's own projection (a model may derive its cell)
        facts = {
            "num_frames": (card.input.num_frames, contract.num_frames),
            "image_size": (card.input.image_size, contract.image_size),
            "patch_size": (card.input.patch_size, contract.patch_size),
            "tubelet_size": (card.input.tubelet_size, contract.tubelet_size),
            "num_classes (labels)": (card.num_classes, c.num_classes),
        }
        bad = {k: v for k, v in facts.items() if v[0] != v[1]}
        if bad:
            detail = ", ".join(f"{k}: card {a} vs config {b}" for k, (a, b) in bad.items())
            raise ValueError(f"model card does not match the config: {detail}")

    # --- forward ----------------------------------------------------------------------------------
    @property
    def grid(self) -> Grid:
        return self.config.grid

    def token_grids(self) -> dict[str, Grid]:
        """Every token grid worth recording (export writes them to `model.json` `grids`): the attention
        maps' grid under `"attention"`; models with stages or views add theirs."""
        return {"attention": self.grid}

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        raise NotImplementedError

    def forward_head(self, features: Tensor) -> Tensor:
        return self.head(self.head_drop(features))

    def forward(self, x: Tensor, *, return_attention: bool = False) -> VideoOutput:
        c = self.config
        expected = (c.num_frames, c.in_chans, c.image_size, c.image_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected input [B, {', '.join(map(str, expected))}], got {list(x.shape)}")
        features, maps = self.forward_features(x, return_attention=return_attention)
        logits = self.forward_head(features)
        if maps is None:
            return VideoOutput(logits)
        return VideoOutput(logits, maps.temporal, maps.spatial)

    # --- utilities --------------------------------------------------------------------------------
    def set_fused_attn(self, fused: bool) -> None:
        """Switch every attention layer between SDPA (True) and explicit softmax (False)."""
        for module in self.modules():
            if isinstance(module, Attention):
                module.fused = fused

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Resample position/time embeddings saved for another grid (`source_grid`) to this model's grid."""
        return dict(state_dict)

    def _init_weights(self, *embeddings: Tensor) -> None:
        self.apply(init_module)
        with torch.no_grad():
            for p in embeddings:
                nn.init.trunc_normal_(p, std=0.02)


def resample_prefixed_2d(sd: dict[str, Tensor], key: str, grid: Grid, *, mode: Any) -> None:
    """In place: `sd[key]` `[1, 1 + s·s, D]` (cls, then a square patch grid) → `[1, 1 + h·w, D]`."""
    if key not in sd or sd[key].shape[1] == 1 + grid.patches:
        return
    value = sd[key]
    side = square_side(value.shape[1] - 1, key)
    patches = resample_2d(value[:, 1:], (side, side), (grid.h, grid.w), mode=mode)
    sd[key] = torch.cat((value[:, :1], patches), dim=1)


def resample_prefixed_1d(sd: dict[str, Tensor], key: str, length: int, *, prefix: int, mode: Any) -> None:
    """In place: `sd[key]` `[1, prefix + n, D]` → `[1, prefix + length, D]`, the prefix kept as is."""
    if key not in sd or sd[key].shape[1] == prefix + length:
        return
    value = sd[key]
    sd[key] = torch.cat((value[:, :prefix], resample_1d(value[:, prefix:], length, mode)), dim=1)
