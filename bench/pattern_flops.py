"""Analytic forward cost of every attention pattern, from the shapes alone (no model is built).

Counted as `torch.utils.flop_counter.FlopCounterMode` counts (a multiply-add is 2 FLOPs; matmuls and
convolutions only: no softmax, norm or GELU), for one clip, without attention outputs:

* linear: patch embedding, q/k/v and output projections (every token of every attention step), MLP,
  TimeSformer's `temporal_fc`, `local_global`'s segment pooling, the head;
* attention: `q·kᵀ` and `p·v`, `2·pairs·D` multiply-adds for `pairs` (query, key) pairs summed over the
  sequences of a step (Model 4: half the heads per kind, so `pairs·D`). **As run**, a masked key costs
  what a visible one does (the masks are additive biases on dense attention); `attention_sparse` counts
  only the keys a query may see — what a kernel that skips masked keys would cost.

`tests/bench/test_pattern_bench.py` checks these formulas against `FlopCounterMode` on real models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Shape:
    """The study's model: `frames` frames of `image_size`² in `patch`² patches (tubelet 1)."""

    frames: int
    image_size: int = 224
    patch: int = 16
    dim: int = 768
    mlp: int = 3072
    depth: int = 2
    classes: int = 400

    @property
    def side(self) -> int:
        return self.image_size // self.patch

    @property
    def patches(self) -> int:
        return self.side * self.side


@dataclass(frozen=True)
class Cost:
    """Multiply-adds: `linear`, `attention` (as run) and `attention_sparse` (visible keys only)."""

    linear: float = 0.0
    attention: float = 0.0
    attention_sparse: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.linear + other.linear,
            self.attention + other.attention,
            self.attention_sparse + other.attention_sparse,
        )

    def __mul__(self, k: float) -> Cost:
        return Cost(self.linear * k, self.attention * k, self.attention_sparse * k)

    @property
    def gflops(self) -> float:
        return 2 * (self.linear + self.attention) / 1e9

    @property
    def gflops_sparse(self) -> float:
        return 2 * (self.linear + self.attention_sparse) / 1e9

    @property
    def attention_share(self) -> float:
        """The share of the FLOPs (as run) spent in `q·kᵀ` and `p·v`."""
        return self.attention / (self.linear + self.attention)


def _step(tokens: float, pairs: float, dim: int, sparse_pairs: float | None = None) -> Cost:
    """One attention step: q/k/v + proj over `tokens`, then `q·kᵀ` and `p·v` over `pairs`."""
    visible = pairs if sparse_pairs is None else sparse_pairs
    return Cost(4 * tokens * dim * dim, 2 * pairs * dim, 2 * visible * dim)


def _mlp(tokens: float, s: Shape) -> Cost:
    return Cost(2 * tokens * s.dim * s.mlp)


def _embed(s: Shape, frames: int) -> Cost:
    """The patch embedding of `frames` frames."""
    return Cost(frames * s.patches * 3 * s.patch * s.patch * s.dim)


def _head(s: Shape, features: int) -> Cost:
    return Cost(features * s.classes)


def window_pairs(t: int, window: int) -> int:
    """(query, key) frame pairs with `|i − j| ≤ window // 2`."""
    return sum(min(t - 1, i + window // 2) - max(0, i - window // 2) + 1 for i in range(t))


def strided_pairs(t: int, stride: int) -> int:
    """(query, key) frame pairs with `(i − j) mod stride == 0`."""
    return sum(len(range(i % stride, t, stride)) for i in range(t))


def _factorised_temporal(pattern: str, t: int, n: int, s: Shape, options: dict[str, Any]) -> Cost:
    """The temporal step of the Model-3 family over `n` positions of `t` frames."""
    window, stride = options.get("window", 3), options.get("stride", 2)
    if pattern == "windowed":
        return _step(n * t, n * t * t, s.dim, n * window_pairs(t, window))
    if pattern == "strided_sparse":
        return _step(n * t, n * t * t, s.dim, n * strided_pairs(t, stride))
    if pattern == "local_global":
        g = math.ceil(t / stride)
        pooling = Cost(n * g * t * s.dim)
        return pooling + _step(n * (t + g), n * (t + g) ** 2, s.dim, n * (window_pairs(t, window) + t * g))
    return _step(n * t, n * t * t, s.dim)


def _factorised_block(pattern: str, t: int, s: Shape, options: dict[str, Any]) -> Cost:
    n = s.patches
    spatial = _step(t * n, t * n * n, s.dim)
    return spatial + _factorised_temporal(pattern, t, n, s, options) + _mlp(t * n, s)


def _block(pattern: str, t: int, s: Shape, options: dict[str, Any]) -> Cost:
    """One block of `pattern` over `t` frames (TimeSformer's with a cls token)."""
    n, d, side = s.patches, s.dim, s.side
    if pattern == "joint_space_time":
        return _step(1 + t * n, (1 + t * n) ** 2, d) + _mlp(1 + t * n, s)
    if pattern == "divided_space_time":
        temporal = _step(t * n, n * t * t, d) + Cost(t * n * d * d)  # + temporal_fc
        return temporal + _step(t * (1 + n), t * (1 + n) ** 2, d) + _mlp(1 + t * n, s)
    if pattern == "space_only":
        return _step(t * (1 + n), t * (1 + n) ** 2, d) + _mlp(t * (1 + n), s)
    if pattern == "factorised_dot_product":
        pairs = n * t * t + t * n * n
        return Cost(4 * t * n * d * d, pairs * d, pairs * d) + _mlp(t * n, s)
    if pattern == "axial":
        axes = [t * side * side * side, t * side * side * side, n * t * t]  # height, width, time
        return sum((_step(t * n, p, d) for p in axes), Cost()) + _mlp(t * n, s)
    return _factorised_block(pattern, t, s, options)


def model_cost(pattern: str, s: Shape, options: dict[str, Any] | None = None) -> Cost:
    """One clip through `s.depth` blocks of `pattern` (and what the model adds around them).

    `factorised_encoder`: `depth` space-only layers, then `options["temporal_depth"]` layers over the
    `1 + T` frame tokens; `multiscale`: one Model-3 encoder per stride in `options["strides"]`.
    """
    opts = options or {}
    t = s.frames
    if pattern == "factorised_encoder":
        temporal = _step(1 + t, (1 + t) ** 2, s.dim) + _mlp(1 + t, s)
        spatial = _block("space_only", t, s, opts) * s.depth
        return _embed(s, t) + spatial + temporal * opts["temporal_depth"] + _head(s, s.dim)
    if pattern == "multiscale":
        strides = opts["strides"]
        frames = [math.ceil(t / stride) for stride in strides]
        branch = [_embed(s, f) + _block("factorised_self_attention", f, s, opts) * s.depth for f in frames]
        return sum(branch, Cost()) + _head(s, len(strides) * s.dim)
    return _embed(s, t) + _block(pattern, t, s, opts) * s.depth + _head(s, s.dim)
