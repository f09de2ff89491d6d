"""What a model needs from the pipeline around it: labels, input spec, preprocessing and frame sampling.

A `ModelCard` travels with every model (`model.card`), is saved beside our checkpoints, and is copied
into an exported bundle's `model.json`. The service decodes and samples clips exactly as the card says.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

SamplingPolicy = Literal["uniform", "stride"]
ResizePolicy = Literal["short_side_center_crop"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Facts about a model that decoding, preprocessing and answering depend on.

    Frames reach the model as float32 `[B, T, 3, H, W]`, RGB, `(pixel / 255 - mean) / std`.

    sampling:
        `uniform`: `num_frames` frames at the centres of equal segments spanning the whole clip.
        `stride`: `num_frames` frames `frame_stride` apart at `target_fps`, centred in the clip
        (TimeSformer's 8×32 policy: stride 32 at the source's fps when `target_fps` is None).
    resize: the short side is resized to `resize_short_side` (default `image_size`), then a centre
        crop of `image_size` is taken; `test_crops` > 1 takes that many crops along the long side.
    """

    name: str
    architecture: str  # e.g. "timesformer", "vivit", "videomae"
    attention: str  # e.g. "divided_space_time", "joint_space_time", "space_only", "factorised_encoder"
    labels: tuple[str, ...]
    num_frames: int
    image_size: int
    patch_size: int
    tubelet_size: int = 1
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    sampling: SamplingPolicy = "uniform"
    frame_stride: int | None = None
    target_fps: float | None = None
    resize: ResizePolicy = "short_side_center_crop"
    resize_short_side: int | None = None
    test_crops: int = 1
    version: str = "1"
    source: str = ""  # where the weights came from (path or description); informational
    extra: dict[str, Any] = field(default_factory=dict)  # training facts, results, etc.

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.image_size < 1 or self.patch_size < 1 or self.tubelet_size < 1:
            raise ValueError("num_frames, image_size, patch_size and tubelet_size must be positive")
        if self.num_frames % self.tubelet_size:
            raise ValueError(
                f"num_frames={self.num_frames} is not a multiple of tubelet_size={self.tubelet_size}"
            )
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}"
            )
        if self.sampling == "stride" and not self.frame_stride:
            raise ValueError("sampling='stride' needs frame_stride")
        if not self.labels:
            raise ValueError("a model card needs at least one label")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def temporal_tokens(self) -> int:
        """T' = T / tubelet: the length of the temporal attention map."""
        return self.num_frames // self.tubelet_size

    @property
    def grid(self) -> tuple[int, int, int]:
        """The token grid (T', h, w) of the spatial attention maps."""
        side = self.image_size // self.patch_size
        return (self.temporal_tokens, side, side)

    def with_input(self, *, num_frames: int | None = None, image_size: int | None = None) -> ModelCard:
        return replace(
            self,
            num_frames=self.num_frames if num_frames is None else num_frames,
            image_size=self.image_size if image_size is None else image_size,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model card fields: {sorted(unknown)}")
        values = dict(data)
        for key in ("labels", "mean", "std"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
