"""Transformer blocks: one class per attention pattern, over an explicit `(T', h, w)` grid, one protocol.

Every block is a `VideoBlock`: `forward(x, grid, *, return_attention=False) -> (x, BlockAttention | None)`.
With `return_attention=True` the block computes its attention explicitly and returns the probabilities,
averaged over heads, as a `BlockAttention` naming its pattern (the class's `pattern`, also its `BLOCKS`
key); `models.attention_maps.REDUCERS[pattern]` turns them into maps. Blocks never compute maps.
`run_blocks` runs a stack and asks only the last block for its attention.

All blocks are pre-norm (`x + attn(norm1(x))`, then `x + mlp(norm2(x))`) and built from the shared
`Attention` and `Mlp` (layer classes can be swapped through `attn_layer` / `mlp_layer` / `norm_layer`).

Token layouts (the `D` axis last everywhere):

* `DividedSpaceTimeBlock`, `JointSpaceTimeBlock`: `[B, 1 + T'·h·w, D]` = `[cls; patches]` with patches
  **frame-major** — index `1 + t·h·w + i·w + j` is frame `t`, row `i`, column `j`. (The official
  TimeSformer stores `(h, w, t)`; attention is permutation-equivariant, so the result is identical.)
  `JointSpaceTimeBlock(has_cls=False)` takes `[B, T'·h·w, D]` (VideoMAE). The factorised encoder's
  temporal transformer is a `JointSpaceTimeBlock` over `[B, 1 + T', D]` with the grid `(T', 1, 1)`.
* `SpaceOnlyBlock`: `[B·T', 1 + h·w, D]` — one sequence per frame, each with its own cls copy.

A new pattern (windowed / strided / local-global temporal attention as masks or biases on `Attention`,
relative position biases, axial, ViViT Models 3 and 4, Video Swin windows with shifted-window masks on a
shrinking per-stage grid, several tokenizations) is one `VideoBlock` subclass registered with
`@register_block`, whose docstring states its token layout, plus one reducer for its `BlockAttention`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from models.attention_maps import BlockAttention
from models.layers import Attention, GeluApprox, Grid, Mlp, QkvBias
from models.patterns.temporal import RelativeTemporalBias


class DropPath(nn.Module):
    """Stochastic depth per sample; identity at eval or when `p == 0`."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class VideoBlock(nn.Module):
    """The block protocol: `forward(x, grid, *, return_attention=False) -> (x, BlockAttention | None)`.

    `x`'s layout is the subclass's (its docstring); `grid` is the `(T', h, w)` grid its tokens index.
    `pattern` names the attention pattern: the block's `BLOCKS` key and its reducer's `REDUCERS` key.
    """

    pattern: ClassVar[str]

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        raise NotImplementedError

    def _attention(self, grid: Grid, *probs: Tensor | None, has_cls: bool = True) -> BlockAttention | None:
        """This block's `BlockAttention`, or None when its probabilities were not computed."""
        if any(p is None for p in probs):
            return None
        return BlockAttention(
            pattern=self.pattern, grid=grid, probs=tuple(p for p in probs if p is not None), has_cls=has_cls
        )


class _PreNorm(VideoBlock):
    """Parameters and the plain ViT computation shared by the pre-norm blocks: `norm1`, `attn`
    (`attn_layer(dim, num_heads, **attn_options)`, e.g. Video Swin's window attention), `norm2`, `mlp`."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        *,
        qkv_bias: QkvBias = "qkv",
        norm_eps: float = 1e-6,
        gelu: GeluApprox = "none",
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        fused: bool = True,
        attn_layer: type[Attention] = Attention,
        attn_options: Mapping[str, Any] | None = None,
        mlp_layer: type[Mlp] = Mlp,
        norm_layer: Callable[..., nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        # kept so blocks with more attention steps build them exactly like the first (`_norm_attention`)
        self._attn_layer, self._norm_layer, self._norm_eps = attn_layer, norm_layer, norm_eps
        self._attn_kwargs: dict[str, Any] = {
            "qkv_bias": qkv_bias,
            "attn_drop": attn_drop,
            "proj_drop": drop,
            "fused": fused,
            **(attn_options or {}),
        }
        self.norm1 = norm_layer(dim, eps=norm_eps)
        self.attn = attn_layer(dim, num_heads, **self._attn_kwargs)
        self.drop_path = DropPath(drop_path)
        self.norm2 = norm_layer(dim, eps=norm_eps)
        self.mlp = mlp_layer(dim, mlp_dim, approximate=gelu, drop=drop)

    def _norm_attention(self, dim: int, num_heads: int) -> tuple[nn.Module, Attention]:
        """A norm and an attention built exactly like `norm1` and `attn`, for a further attention step."""
        norm = self._norm_layer(dim, eps=self._norm_eps)
        return norm, self._attn_layer(dim, num_heads, **self._attn_kwargs)

    def _vit(self, x: Tensor, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        res, probs = self.attn(self.norm1(x), need_weights=need_weights)
        x = x + self.drop_path(res)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, probs


def to_temporal(x: Tensor, grid: Grid) -> Tensor:
    """`[B, T'·h·w, D]` (patches, frame-major) → `[B·h·w, T', D]`: one sequence per spatial position."""
    dim = x.shape[-1]
    return x.reshape(-1, grid.t, grid.patches, dim).transpose(1, 2).reshape(-1, grid.t, dim)


def from_temporal(x: Tensor, grid: Grid) -> Tensor:
    """`[B·h·w, T', D]` → `[B, T'·h·w, D]` (the inverse of `to_temporal`)."""
    dim = x.shape[-1]
    return x.reshape(-1, grid.patches, grid.t, dim).transpose(1, 2).reshape(-1, grid.tokens, dim)


#: Attention pattern → block class (the names used in configs and model cards).
BLOCKS: dict[str, type[VideoBlock]] = {}


def register_block(cls: type[VideoBlock]) -> type[VideoBlock]:
    """Class decorator: register a block under its `pattern` (one class per pattern)."""
    if cls.pattern in BLOCKS:
        raise ValueError(f"a block for attention pattern {cls.pattern!r} is already registered")
    BLOCKS[cls.pattern] = cls
    return cls


@register_block
class JointSpaceTimeBlock(_PreNorm):
    """Joint space–time attention over all `[cls;] T'·h·w` tokens (TimeSformer joint, ViViT 1, VideoMAE).

    Also the factorised encoder's temporal transformer: `[B, 1 + T', D]` over the grid `(T', 1, 1)`.
    """

    pattern = "joint_space_time"

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, *, has_cls: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        self.has_cls = has_cls

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        x, probs = self._vit(x, return_attention)
        return x, self._attention(grid, probs, has_cls=self.has_cls)


@register_block
class SpaceOnlyBlock(_PreNorm):
    """Attention within each frame only: `[B·T', 1 + h·w, D]`, frames never interact."""

    pattern = "space_only"

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        x, probs = self._vit(x, return_attention)
        return x, self._attention(grid, probs)


@register_block
class DividedSpaceTimeBlock(_PreNorm):
    """TimeSformer divided space–time attention over `[B, 1 + T·h·w, D]` (frame-major patches).

    1. temporal: patches only (cls excluded), grouped by spatial position: `[B·h·w, T, D]`;
       `temporal_norm1 → temporal_attn → temporal_fc`, residual added to the patches;
    2. spatial: the cls is replicated per frame and prepended to each frame's patches: `[B·T, 1 + h·w, D]`;
       `norm1 → attn`; the T cls outputs are averaged back into one; residual added to cls and patches;
    3. `norm2 → mlp`, residual.

    `rel_pos_frames=T'` (> 0) adds a learned relative temporal position bias to step 1's logits
    (`temporal_rel_pos`, offsets `±(T' − 1)`, zero-initialised; `models.patterns.temporal`).
    """

    pattern = "divided_space_time"

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, *, rel_pos_frames: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(dim, num_heads, mlp_dim, **kwargs)
        self.temporal_norm1, self.temporal_attn = self._norm_attention(dim, num_heads)
        self.temporal_fc = nn.Linear(dim, dim)
        self.temporal_rel_pos = (
            RelativeTemporalBias(num_heads, rel_pos_frames - 1) if rel_pos_frames else None
        )

    def forward(
        self, x: Tensor, grid: Grid, *, return_attention: bool = False
    ) -> tuple[Tensor, BlockAttention | None]:
        t, n = grid.t, grid.patches
        dim = x.shape[-1]
        cls, patches = x[:, :1], x[:, 1:]  # [B, 1, D], [B, T·n, D]

        # 1. temporal: [B, T, n, D] -> [B·n, T, D]
        xt = to_temporal(patches, grid)
        bias = None if self.temporal_rel_pos is None else self.temporal_rel_pos(t)
        res_t, temporal_probs = self.temporal_attn(
            self.temporal_norm1(xt), bias=bias, need_weights=return_attention
        )
        patches = patches + self.temporal_fc(self.drop_path(from_temporal(res_t, grid)))

        # 2. spatial: [B, T, n, D] -> [B·T, 1 + n, D] with the cls replicated per frame
        cls_rep = cls.unsqueeze(1).expand(-1, t, -1, -1).reshape(-1, 1, dim)
        xs = torch.cat((cls_rep, patches.reshape(-1, n, dim)), dim=1)
        res_s, spatial_probs = self.attn(self.norm1(xs), need_weights=return_attention)
        res_s = self.drop_path(res_s)
        res_cls = res_s[:, :1].reshape(-1, t, dim).mean(dim=1, keepdim=True)
        x = torch.cat((cls + res_cls, patches + res_s[:, 1:].reshape(-1, t * n, dim)), dim=1)

        # 3. MLP
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, self._attention(grid, temporal_probs, spatial_probs)


class BlockSpec(Protocol):
    """What `build_blocks` reads from a model config (`models.base.VideoConfig` has it all)."""

    @property
    def embed_dim(self) -> int: ...
    @property
    def num_heads(self) -> int: ...
    @property
    def hidden_dim(self) -> int: ...
    def block_kwargs(self, drop_path: float) -> dict[str, Any]: ...


def build_blocks(pattern: str, spec: BlockSpec, drop_paths: Iterable[float], **extra: Any) -> nn.ModuleList:
    """A stack of `BLOCKS[pattern]`, one per stochastic-depth rate, with `spec`'s width, heads and MLP."""
    if pattern not in BLOCKS:
        raise ValueError(f"unknown attention pattern {pattern!r}; registered: {sorted(BLOCKS)}")
    block_cls = BLOCKS[pattern]
    return nn.ModuleList(
        block_cls(spec.embed_dim, spec.num_heads, spec.hidden_dim, **spec.block_kwargs(rate), **extra)
        for rate in drop_paths
    )


def run_blocks(
    blocks: Iterable[nn.Module], x: Tensor, grid: Grid, *, return_attention: bool = False
) -> tuple[Tensor, BlockAttention | None]:
    """Run a stack of `VideoBlock`s; only the last is asked for its attention (the others stay fused)."""
    stack = list(blocks)
    attention: BlockAttention | None = None
    for i, block in enumerate(stack):
        x, attention = block(x, grid, return_attention=return_attention and i == len(stack) - 1)
    return x, attention
