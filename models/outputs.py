"""What every model's `forward` returns."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class VideoOutput(NamedTuple):
    """Output of `model(x, return_attention=...)`.

    logits: `[B, num_classes]`.
    temporal_attention: `[B, T', T']`, rows sum to 1 — None unless `return_attention=True`.
    spatial_attention: `[B, T', h, w]`, each frame's map sums to 1 — None unless `return_attention=True`.
    `T'` = frames / tubelet, `h = w = image_size / patch_size`. See `models.attention_maps` for the method.

    A NamedTuple (a pytree node) so `torch.export` / ONNX export can return it directly.
    """

    logits: Tensor
    temporal_attention: Tensor | None = None
    spatial_attention: Tensor | None = None
