"""The module that becomes `model.onnx`: uint8 video in, logits (and attention maps) out.

Input `video`: uint8 `[B, T, H, W, 3]` RGB, as decoded. Inside the graph: cast to float32, `pixel / 255`,
`(x - mean) / std` per channel, then the layout change to `[B, T, 3, H, W]`; the wrapped model sees
exactly what `normalize_video` gives PyTorch in the parity checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL


def normalize_video(video: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 `[B, T, H, W, 3]` → float32 `[B, T, 3, H, W]`, `(pixel / 255 - mean) / std`.

    `mean` and `std` are float32 tensors of shape `[3]`. The cast comes first and the layout change
    last, so the graph's only uint8 operation is a Cast (TensorRT handles uint8 in Cast and I/O only).
    """
    x = video.to(torch.float32) / 255.0
    x = (x - mean) / std
    return x.permute(0, 1, 4, 2, 3)


def channel_stats(values: Sequence[float]) -> torch.Tensor:
    if len(values) != 3:
        raise ValueError(f"expected 3 channel values, got {len(values)}")
    return torch.tensor([float(v) for v in values], dtype=torch.float32)


class BundleGraph(nn.Module):
    """Wraps a vtserve video model for export; returns the outputs named in `output_names`, in order.

    `output_names` is `("logits",)` or `("logits",)` plus one or both attention outputs (the ones the
    model produces; see `available_outputs`).
    """

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        output_names: Sequence[str] = (OUTPUT_LOGITS,),
    ) -> None:
        super().__init__()
        unknown = set(output_names) - {OUTPUT_LOGITS, OUTPUT_TEMPORAL, OUTPUT_SPATIAL}
        if unknown or not output_names or output_names[0] != OUTPUT_LOGITS:
            raise ValueError(f"output_names must start with {OUTPUT_LOGITS!r}; got {list(output_names)}")
        self.model = model
        self.output_names = tuple(output_names)
        self.attention = len(self.output_names) > 1
        self.mean_rgb: torch.Tensor
        self.std_rgb: torch.Tensor
        self.register_buffer("mean_rgb", channel_stats(mean), persistent=False)
        self.register_buffer("std_rgb", channel_stats(std), persistent=False)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = normalize_video(video, self.mean_rgb, self.std_rgb)
        out = self.model(x, return_attention=self.attention)
        values = {
            OUTPUT_LOGITS: out.logits,
            OUTPUT_TEMPORAL: out.temporal_attention,
            OUTPUT_SPATIAL: out.spatial_attention,
        }
        return tuple(values[name] for name in self.output_names)


@torch.no_grad()
def available_outputs(model: nn.Module, num_frames: int, image_size: int, attention: bool) -> tuple[str, ...]:
    """The output names a bundle of `model` will have: logits, then whichever attention maps it returns."""
    if not attention:
        return (OUTPUT_LOGITS,)
    probe = torch.zeros(1, num_frames, 3, image_size, image_size)
    out = model(probe, return_attention=True)
    names = [OUTPUT_LOGITS]
    if out.temporal_attention is not None:
        names.append(OUTPUT_TEMPORAL)
    if out.spatial_attention is not None:
        names.append(OUTPUT_SPATIAL)
    return tuple(names)
