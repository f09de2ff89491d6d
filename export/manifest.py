"""`model.json`: the versioned description of an exported bundle.

A bundle is a folder: `model.json`, `model.onnx`, and optionally `model.plan` (a TensorRT engine).
This module is torch-free: the service reads bundles with it and never imports torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
MANIFEST_NAME = "model.json"
ONNX_NAME = "model.onnx"
PLAN_NAME = "model.plan"

INPUT_NAME = "video"
OUTPUT_LOGITS = "logits"
OUTPUT_TEMPORAL = "temporal_attention"
OUTPUT_SPATIAL = "spatial_attention"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One graph input or output. Symbolic dimensions are strings (e.g. "batch")."""

    name: str
    dtype: Literal["uint8", "float32", "float16"]
    shape: list[int | str]


class SamplingSpec(_Strict):
    """How frames are chosen from a clip (see `models.card.ModelCard`)."""

    policy: Literal["uniform", "stride"] = "uniform"
    num_frames: int = Field(ge=1)
    frame_stride: int | None = Field(default=None, ge=1)
    target_fps: float | None = Field(default=None, gt=0)


class ResizeSpec(_Strict):
    """Short side resized to `short_side`, then centre crop (or `crops` crops along the long side)."""

    policy: Literal["short_side_center_crop"] = "short_side_center_crop"
    short_side: int = Field(ge=1)
    crop_size: int = Field(ge=1)
    crops: int = Field(default=1, ge=1, le=3)


class ParityCase(_Strict):
    batch: int
    max_abs_logit_diff: float
    top1_agree: bool


class ParityReport(_Strict):
    """How closely the exported graph reproduces the reference (PyTorch, or ONNX Runtime for TensorRT)."""

    reference: str
    candidate: str
    tolerance: float
    passed: bool
    cases: list[ParityCase]
    max_abs_attention_diff: float | None = None


class TensorRTInfo(_Strict):
    file: str = PLAN_NAME
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: Literal["fp32", "fp16"]
    min_batch: int
    opt_batch: int
    max_batch: int
    parity: ParityReport | None = None


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    architecture: str
    attention: str
    labels: list[str]
    num_frames: int = Field(ge=1)
    image_size: int = Field(ge=1)
    patch_size: int = Field(ge=1)
    tubelet_size: int = Field(default=1, ge=1)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sampling: SamplingSpec
    resize: ResizeSpec
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    has_attention: bool
    precision: Literal["fp32", "fp16"] = "fp32"
    parity: ParityReport | None = None
    tensorrt: TensorRTInfo | None = None
    versions: dict[str, str] = Field(default_factory=dict)  # torch, onnx, onnxruntime, tensorrt, vtserve
    files: dict[str, str] = Field(default_factory=dict)  # file name -> sha256 hex
    source: str = ""
    card_extra: dict[str, object] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported model.json schema_version {self.schema_version} (expected {SCHEMA_VERSION})"
            )
        if self.num_frames % self.tubelet_size:
            raise ValueError("num_frames must be a multiple of tubelet_size")
        if self.sampling.num_frames != self.num_frames:
            raise ValueError("sampling.num_frames must equal num_frames")
        if self.resize.crop_size != self.image_size:
            raise ValueError("resize.crop_size must equal image_size")
        if not self.labels:
            raise ValueError("labels must not be empty")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def temporal_tokens(self) -> int:
        return self.num_frames // self.tubelet_size

    @property
    def spatial_grid(self) -> tuple[int, int]:
        side = self.image_size // self.patch_size
        return (side, side)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(bundle_dir: Path) -> Manifest:
    """Parse a bundle's `model.json`; raises FileNotFoundError or pydantic.ValidationError."""
    path = Path(bundle_dir) / MANIFEST_NAME
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write `model.json` atomically (a reader sees the old or the new manifest, never half of one)."""
    path = Path(bundle_dir) / MANIFEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def verify_files(bundle_dir: Path, manifest: Manifest) -> list[str]:
    """Names of the bundle files whose sha256 does not match the manifest (missing files included)."""
    bad = []
    for name, expected in manifest.files.items():
        path = Path(bundle_dir) / name
        if not path.is_file() or sha256_file(path) != expected:
            bad.append(name)
    return bad
