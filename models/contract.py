"""The input contract: everything the pipeline around a model must agree on, declared once.

A model takes `num_frames` RGB frames of `image_size`² pixels. How those frames are chosen from a clip
(sampling), resized and cropped, and normalised (`(pixel / 255 − mean) / std`) is part of the same
contract, and so is the token grid its attention maps are reported on. Every other description of a
model's input is a projection of an `InputContract`:

    VideoConfig.grid ─┐
    ModelCard.input ──┼── InputContract ──► model.json `input` (export) ──► runtime input spec,
                      │                                                   decode request, /v1/models
    token_grid() ─────┘  (the one place a token grid is computed)

This module imports only the standard library: the torch-free service reads contracts from bundles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, NamedTuple

SamplingPolicy = Literal["uniform", "stride"]
ResizePolicy = Literal["short_side_center_crop"]
TestCrops = Literal[1, 3]
Triple = tuple[float, float, float]

IMAGENET_MEAN: Triple = (0.485, 0.456, 0.406)
IMAGENET_STD: Triple = (0.229, 0.224, 0.225)
KINETICS_MEAN: Triple = (0.45, 0.45, 0.45)
KINETICS_STD: Triple = (0.225, 0.225, 0.225)


class Grid(NamedTuple):
    """A token grid: `t` temporal positions (frames or tubelet slices) × `h` × `w` patches."""

    t: int
    h: int
    w: int

    @property
    def patches(self) -> int:
        """Patches per frame, `h·w`."""
        return self.h * self.w

    @property
    def tokens(self) -> int:
        """Patch tokens in the whole clip, `t·h·w` (no cls)."""
        return self.t * self.h * self.w


def token_grid(*, num_frames: int, image_size: int, patch_size: int, tubelet_size: int = 1) -> Grid:
    """The grid of `num_frames` frames of `image_size`² cut into `tubelet × patch × patch` cells.

    The only place a token grid is computed; raises ValueError when the sizes do not divide.
    """
    if min(num_frames, image_size, patch_size, tubelet_size) < 1:
        raise ValueError("num_frames, image_size, patch_size and tubelet_size must be positive")
    if image_size % patch_size:
        raise ValueError(f"image_size={image_size} is not a multiple of patch_size={patch_size}")
    if num_frames % tubelet_size:
        raise ValueError(f"num_frames={num_frames} is not a multiple of tubelet_size={tubelet_size}")
    side = image_size // patch_size
    return Grid(num_frames // tubelet_size, side, side)


def check_fields(cls: type[Any], data: Mapping[str, Any], what: str) -> None:
    """ValueError naming the keys of `data` that are not fields of the dataclass `cls` (`what` they are)."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} fields: {sorted(unknown)}")


def _triple(value: Any, name: str) -> Triple:
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 values (R, G, B), got {len(values)}")
    return (values[0], values[1], values[2])


@dataclass(frozen=True, kw_only=True)
class InputContract:
    """What a model needs from decoding, sampling and preprocessing, and the grid it answers on.

    Frames reach the model as `[B, num_frames, image_size, image_size, 3]` uint8 RGB; the exported graph
    normalises them to `(pixel / 255 − mean) / std`.

    sampling:
        `uniform`: `num_frames` frames at the centres of equal segments spanning the whole clip.
        `stride`: `num_frames` frames `frame_stride` apart at `target_fps` (the source's fps when None),
        centred in the clip (TimeSformer's 8×32 policy: stride 32).
    resize: the short side (as displayed) is resized to `resize_short_side` (default `image_size`), then
        a centre crop of `image_size`² is taken.
    test_clips × test_crops: the views the model's paper evaluates with (multi-view testing: temporal
        clips × spatial crops along the long side, 1 or 3); one prediction uses one centre view.
    patch_size / tubelet_size: pixels per spatial cell and frames per temporal cell of the attention maps
        (`grid`), which is also the input tokenization of single-tokenization models.
    """

    # pydantic (model.json) validates this dataclass and must refuse unknown keys, like everywhere else
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    num_frames: int
    image_size: int
    patch_size: int
    tubelet_size: int = 1
    mean: Triple = KINETICS_MEAN
    std: Triple = KINETICS_STD
    sampling: SamplingPolicy = "uniform"
    frame_stride: int | None = None
    target_fps: float | None = None
    resize: ResizePolicy = "short_side_center_crop"
    resize_short_side: int | None = None
    test_clips: int = 1
    test_crops: TestCrops = 1

    def __post_init__(self) -> None:
        self.grid  # noqa: B018  (raises unless frames and size divide into the token grid)
        object.__setattr__(self, "mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "std", _triple(self.std, "std"))
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.sampling not in ("uniform", "stride"):
            raise ValueError(f"sampling must be 'uniform' or 'stride', got {self.sampling!r}")
        if self.sampling == "stride" and not self.frame_stride:
            raise ValueError("sampling='stride' needs frame_stride")
        if self.frame_stride is not None and self.frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {self.frame_stride}")
        if self.target_fps is not None and self.target_fps <= 0:
            raise ValueError(f"target_fps must be positive, got {self.target_fps}")
        if self.resize_short_side is not None and self.resize_short_side < self.image_size:
            raise ValueError(
                f"resize_short_side={self.resize_short_side} is smaller than image_size={self.image_size}"
            )
        if self.test_crops not in (1, 3):
            raise ValueError(f"test_crops must be 1 or 3, got {self.test_crops}")
        if self.test_clips < 1:
            raise ValueError(f"test_clips must be positive, got {self.test_clips}")

    @property
    def grid(self) -> Grid:
        """The `(T', h, w)` grid of the attention maps: `T' = num_frames / tubelet_size`."""
        return token_grid(
            num_frames=self.num_frames,
            image_size=self.image_size,
            patch_size=self.patch_size,
            tubelet_size=self.tubelet_size,
        )

    @property
    def short_side(self) -> int:
        """The short side frames are resized to before the centre crop."""
        return self.resize_short_side or self.image_size

    def input_shape(self, batch: int | str = "batch") -> list[int | str]:
        """The graph input's shape: `[batch, T, H, W, 3]` uint8."""
        return [batch, self.num_frames, self.image_size, self.image_size, 3]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputContract:
        check_fields(cls, data, "input contract")
        return cls(**data)

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))
