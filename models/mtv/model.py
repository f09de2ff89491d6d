"""MTV, Multiview Transformers for Video Recognition (Yan et al. 2022; scenic `projects/mtv`).

Views, coarsest first (MTV-B, `Ti/8+S/4+B/2` in scenic's notation): view `v` cuts the clip into tubelets
of `tubelet_size / 2^v` frames (8, 4, 2) and encodes them with its own ViT whose width, heads and MLP are
`1 / 2^(V−1−v)` of the finest view's (`embed_dim`, `num_heads`, `mlp_dim`: 192/3/768, 384/6/1536,
768/12/3072), each `depth` layers, tanh-GELU, LayerNorm eps 1e-6:

    view v: Conv3d tubelets (tubelet_v × p × p) → per-slice cls (`cls_token` [1, T'_v, 1, C_v]) + a spatial
        `pos_embed` [1, 1 + h·w, C_v] shared by every slice → tokens grouped per segment
        `[B·S, r_v·(1 + h·w), C_v]` (S = T / tubelet_size segments, r_v = 2^v slices each): joint
        attention within a view and a segment;
    fusion layers (default: the middle and the last, (5, 11) at depth 12): cross-view attention before
        the layer's blocks, `models.mtv.fusion`;
    global encoder: every view's slice cls outputs `[B, T'_v, C_v]` aligned to T'_max = T'_finest —
        `temporal_merge="tile"` (scenic's `jnp.tile`: token i holds view v's slice i mod T'_v) or
        `"interleave"` (token i holds the slice covering the same frames) — concatenated along channels
        (width ΣC_v = 1344), a global cls, a learned `global_pos_embed` over 1 + T'_max, `global_depth`
        plain ViT layers, final `norm`, cls → `head`.

`tubelet_size` is the **coarsest** view's tubelet (the segment length); the input contract's tubelet and
the attention grid are the finest view's (`(T/2, h, w)` = 16 × 14 × 14 for MTV-B at 32 × 224).
See `models.mtv.maps` for the maps, per view and fused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

from models.attention_maps import AttentionMaps, reduce_attention
from models.base import (
    VideoConfig,
    VideoModel,
    resample_prefixed_1d,
    resample_prefixed_2d,
)
from models.blocks import build_blocks, run_blocks
from models.card import ModelCard
from models.contract import Grid
from models.layers import GeluApprox, prepend_cls, resample_1d
from models.mtv.fusion import CrossViewFusion
from models.mtv.maps import PATTERN, MultiviewAttention, view_maps
from models.vivit import SCENIC_K400_POLICY

TemporalMerge = Literal["tile", "interleave"]


@dataclass(frozen=True, kw_only=True)
class ViewSpec:
    """One view's encoder: what `build_blocks` reads, its tubelet and its segment grid."""

    embed_dim: int
    num_heads: int
    hidden_dim: int
    tubelet: int
    grid: Grid  # (T'_v, h, w)
    slices: int  # per segment
    kwargs: tuple[tuple[str, Any], ...]

    def block_kwargs(self, drop_path: float) -> dict[str, Any]:
        return {**dict(self.kwargs), "drop_path": drop_path}


@dataclass(frozen=True, kw_only=True)
class MTVConfig(VideoConfig):
    """MTV; `embed_dim`/`num_heads`/`mlp_dim`/`depth` are the finest view's (see the module docstring).

    `fusion_layers`: view-encoder layers preceded by cross-view attention (None: the middle and the last).
    `global_heads`: None → 8 (MTV-B), or the largest divisor of the merged width below 8.
    `global_mlp_dim`: None → 4 · `embed_dim` (3072 for MTV-B).
    """

    num_frames: int = 32
    image_size: int = 224
    patch_size: int = 16
    tubelet_size: int = 8
    num_views: int = 3
    gelu: GeluApprox = "tanh"
    fusion_layers: tuple[int, ...] | None = None
    global_depth: int = 12
    global_heads: int | None = None
    global_mlp_dim: int | None = None
    temporal_merge: TemporalMerge = "tile"
    fusion_zero_init: bool = False

    def __post_init__(self) -> None:
        if self.fusion_layers is not None:  # JSON gives lists
            object.__setattr__(self, "fusion_layers", tuple(int(v) for v in self.fusion_layers))
        scale = 2 ** (self.num_views - 1)
        if self.num_views < 1 or self.tubelet_size % scale or self.embed_dim % scale:
            raise ValueError(
                f"{self.num_views} views halve tubelet_size={self.tubelet_size} and "
                f"embed_dim={self.embed_dim} {self.num_views - 1} times: both must be multiples of {scale}"
            )
        super().__post_init__()
        bad = [v for v in self.fused_layers if not 0 <= v < self.depth]
        if bad:
            raise ValueError(f"fusion_layers {bad} are not layers of a depth-{self.depth} encoder")
        if self.temporal_merge not in ("tile", "interleave"):
            raise ValueError(f"temporal_merge must be 'tile' or 'interleave', got {self.temporal_merge!r}")
        if self.global_width % self.resolved_global_heads or self.global_depth < 1:
            raise ValueError(
                f"global_heads={self.global_heads} does not divide the width {self.global_width}"
            )

    @property
    def contract_tubelet(self) -> int:
        """The finest view's tubelet: the input contract's tokenization and the attention grid."""
        return self.tubelet_size >> (self.num_views - 1)

    @property
    def segments(self) -> int:
        return self.num_frames // self.tubelet_size

    def view(self, v: int) -> ViewSpec:
        """View `v` (0 = coarsest): its width, heads, MLP, tubelet and grid."""
        down = self.num_views - 1 - v
        side = self.image_size // self.patch_size
        kwargs = self.block_kwargs(0.0)
        del kwargs["drop_path"]
        return ViewSpec(
            embed_dim=self.embed_dim >> down,
            num_heads=max(self.num_heads >> down, 1),
            hidden_dim=self.hidden_dim >> down,
            tubelet=self.tubelet_size >> v,
            grid=Grid(self.num_frames // (self.tubelet_size >> v), side, side),
            slices=2**v,
            kwargs=tuple(sorted(kwargs.items())),
        )

    @property
    def fused_layers(self) -> tuple[int, ...]:
        if self.fusion_layers is not None:
            return self.fusion_layers
        return tuple(sorted({v for v in (self.depth // 2 - 1, self.depth - 1) if v >= 0}))

    @property
    def global_width(self) -> int:
        return sum(self.view(v).embed_dim for v in range(self.num_views))

    @property
    def resolved_global_heads(self) -> int:
        if self.global_heads is not None:
            return self.global_heads
        return max(h for h in range(1, 9) if self.global_width % h == 0)


@dataclass(frozen=True, kw_only=True)
class _GlobalSpec:
    embed_dim: int
    num_heads: int
    hidden_dim: int
    config: MTVConfig

    def block_kwargs(self, drop_path: float) -> dict[str, Any]:
        return self.config.block_kwargs(drop_path)


def align_time(cls: Tensor, length: int, merge: TemporalMerge) -> Tensor:
    """A view's slice cls outputs `[B, T'_v, C]` brought to `length` tokens: `tile` repeats the whole
    sequence (`[a, b, a, b, …]`, scenic's `jnp.tile`), `interleave` repeats each slice in place
    (`[a, a, …, b, b, …]`: token i covers the same frames in every view)."""
    times = length // cls.shape[1]
    return cls.repeat(1, times, 1) if merge == "tile" else cls.repeat_interleave(times, dim=1)


class ViewEncoder(nn.Module):
    """One view: tubelet embedding, per-slice cls, shared spatial position table, `depth` joint blocks."""

    def __init__(self, config: MTVConfig, spec: ViewSpec) -> None:
        super().__init__()
        self.spec = spec
        c = config
        self.patch_embed = c.tubelet_embed(tubelet_size=spec.tubelet, dim=spec.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, spec.grid.t, 1, spec.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + spec.grid.patches, spec.embed_dim))
        self.blocks = build_blocks("joint_space_time", spec, c.drop_path_rates(), has_cls=True)

    def tokens(self, x: Tensor) -> Tensor:
        """`[B, T, C, H, W]` → `[B·S, r·(1 + h·w), C_v]`, each slice `[cls; patches] + pos_embed`."""
        g, dim = self.spec.grid, self.spec.embed_dim
        patches = self.patch_embed(x)  # [B, T'_v, n, C_v]
        cls = self.cls_token.expand(patches.shape[0], -1, -1, -1)
        slices = torch.cat((cls, patches), dim=2) + self.pos_embed.unsqueeze(1)
        return slices.reshape(-1, self.spec.slices * (1 + g.patches), dim)

    def slice_cls(self, tokens: Tensor) -> Tensor:
        """`[B·S, r·(1 + h·w), C_v]` → every slice's cls output `[B, T'_v, C_v]` (slice order)."""
        g = self.spec.grid
        return tokens.reshape(-1, g.t, 1 + g.patches, self.spec.embed_dim)[:, :, 0]


class MTV(VideoModel):
    """`views.{v}` encoders, `fusions.{k}` before layer `fused_layers[k]`, the global encoder, `head`."""

    arch = "mtv"
    config_cls = MTVConfig
    config: MTVConfig
    card_attention = PATTERN
    card_policy = SCENIC_K400_POLICY  # scenic's K400 protocol, as ViViT's

    def __init__(self, config: MTVConfig, card: ModelCard | None = None) -> None:
        super().__init__(config, card)
        c = config
        specs = [c.view(v) for v in range(c.num_views)]
        self.views = nn.ModuleList(ViewEncoder(c, spec) for spec in specs)
        widths, heads = tuple(s.embed_dim for s in specs), tuple(s.num_heads for s in specs)
        self.fusions = nn.ModuleList(
            CrossViewFusion(widths, heads, norm_eps=c.norm_eps, zero_init=c.fusion_zero_init)
            for _ in c.fused_layers
        )
        self.pos_drop = nn.Dropout(c.drop_rate)
        width, tokens = c.global_width, c.grid.t
        self.global_cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.global_pos_embed = nn.Parameter(torch.zeros(1, 1 + tokens, width))
        global_mlp = c.global_mlp_dim or 4 * c.embed_dim
        spec = _GlobalSpec(
            embed_dim=width, num_heads=c.resolved_global_heads, hidden_dim=global_mlp, config=c
        )
        self.global_blocks = build_blocks("joint_space_time", spec, [0.0] * c.global_depth, has_cls=True)
        self.norm = nn.LayerNorm(width, eps=c.norm_eps)
        self.head_drop = nn.Dropout(c.drop_rate)
        self.head = nn.Linear(width, c.num_classes)
        embeds = [p for view in self._encoders() for p in (view.cls_token, view.pos_embed)]
        self._init_weights(*embeds, self.global_cls_token, self.global_pos_embed)
        for fusion in self._fusions():
            fusion.reset_output()

    def _encoders(self) -> list[ViewEncoder]:
        return [cast(ViewEncoder, view) for view in self.views]

    def _fusions(self) -> list[CrossViewFusion]:
        return [cast(CrossViewFusion, fusion) for fusion in self.fusions]

    def token_grids(self) -> dict[str, Grid]:
        """The attention grid (the finest view's) and every view's grid (`view0` = the coarsest)."""
        views = {f"view{v}": self.config.view(v).grid for v in range(self.config.num_views)}
        return {**super().token_grids(), **views}

    def _encode_views(self, x: Tensor, wanted: frozenset[int]) -> tuple[list[Tensor], dict[int, Tensor]]:
        """Every view's tokens after its encoder; the last layer's probabilities of the `wanted` views."""
        encoders, fusions = self._encoders(), self._fusions()
        views = [self.pos_drop(view.tokens(x)) for view in encoders]
        fusion_at = {layer: k for k, layer in enumerate(self.config.fused_layers)}
        probs: dict[int, Tensor] = {}
        last = self.config.depth - 1
        for layer in range(self.config.depth):
            if layer in fusion_at:
                views = fusions[fusion_at[layer]](views)
            for v, encoder in enumerate(encoders):
                spec = encoder.spec
                segment = Grid(spec.slices, spec.grid.h, spec.grid.w)
                want = layer == last and v in wanted
                views[v], attention = encoder.blocks[layer](views[v], segment, return_attention=want)
                if attention is not None:
                    probs[v] = attention.probs[0]
        return views, probs

    def _global(self, views: list[Tensor], return_attention: bool) -> tuple[Tensor, Tensor | None]:
        """The global encoder over the views' slice cls outputs: features and its last probabilities."""
        tokens = self.config.grid.t
        merged = []
        for view, encoder in zip(views, self._encoders(), strict=True):
            merged.append(align_time(encoder.slice_cls(view), tokens, self.config.temporal_merge))
        seq = prepend_cls(self.global_cls_token, torch.cat(merged, dim=-1)) + self.global_pos_embed
        seq, attention = run_blocks(
            self.global_blocks, self.pos_drop(seq), Grid(tokens, 1, 1), return_attention=return_attention
        )
        return self.norm(seq[:, 0]), None if attention is None else attention.probs[0]

    def forward_features(
        self, x: Tensor, *, return_attention: bool = False
    ) -> tuple[Tensor, AttentionMaps | None]:
        finest = self.config.num_views - 1
        views, probs = self._encode_views(x, frozenset({finest}) if return_attention else frozenset())
        features, global_probs = self._global(views, return_attention)
        if global_probs is None:
            return features, None
        attention = MultiviewAttention(
            pattern=PATTERN,
            grid=self.grid,
            probs=(probs[finest], global_probs),
            slices_per_segment=self._encoders()[finest].spec.slices,
        )
        return features, reduce_attention(attention)

    @torch.no_grad()
    def view_maps(self, x: Tensor) -> dict[str, AttentionMaps]:
        """Maps of every view on its own grid (`view0` …) and the fused maps (`fused`, the output's)."""
        views, probs = self._encode_views(x, frozenset(range(self.config.num_views)))
        _, global_probs = self._global(views, return_attention=True)
        assert global_probs is not None
        maps = {
            f"view{v}": view_maps(probs[v], enc.spec.grid, enc.spec.slices)
            for v, enc in enumerate(self._encoders())
        }
        finest = self.config.num_views - 1
        slices = self._encoders()[finest].spec.slices
        fused = MultiviewAttention(
            pattern=PATTERN, grid=self.grid, probs=(probs[finest], global_probs), slices_per_segment=slices
        )
        return {**maps, "fused": reduce_attention(fused)}

    def adapt_state_dict(
        self, state_dict: dict[str, Tensor], *, source_grid: Grid | None = None
    ) -> dict[str, Tensor]:
        """Per-slice cls tokens and the global table resampled linearly in time, spatial tables bilinearly."""
        sd = dict(state_dict)
        for v, view in enumerate(self._encoders()):
            spec, key = view.spec, f"views.{v}.cls_token"
            if key in sd and sd[key].shape[1] != spec.grid.t:
                sd[key] = resample_1d(sd[key][:, :, 0], spec.grid.t, "linear").unsqueeze(2)
            resample_prefixed_2d(sd, f"views.{v}.pos_embed", spec.grid, mode="bilinear")
        resample_prefixed_1d(sd, "global_pos_embed", self.grid.t, prefix=1, mode="linear")
        return sd
