"""`model.json`: the versioned description of an exported bundle.

A bundle is a folder: `model.json`, `model.onnx`, and optionally `model.plan` (a TensorRT engine).
This module is torch-free: the service reads bundles with it and never imports torch (`models.contract`
is pure Python, and importing it does not import the rest of `models`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.contract import Grid, InputContract

SCHEMA_VERSION = 2
MANIFEST_NAME = "model.json"
ONNX_NAME = "model.onnx"
PLAN_NAME = "model.plan"

INPUT_NAME = "video"
OUTPUT_LOGITS = "logits"
OUTPUT_TEMPORAL = "temporal_attention"
OUTPUT_SPATIAL = "spatial_attention"
#: `Manifest.grids` key of the grid the temporal/spatial attention outputs are reported on.
ATTENTION_GRID = "attention"

#: What a bundle's graph computes in: ONNX graphs are always fp32; a TensorRT engine may be fp16.
Precision = Literal["fp32", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One graph input or output. Symbolic dimensions are strings (e.g. "batch")."""

    name: str
    dtype: Literal["uint8", "float32", "float16"]
    shape: list[int | str]


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


class QuantizedParity(_Strict):
    """How an int8 graph compares with its float32 one (`export.quantize.check_int8_parity`): top-1
    agreement over the check clips, near-ties within `tie_band` of the logit range counted as agreeing
    (must reach `min_top1_agreement`), the strict share (`top1_same`) and the largest differences."""

    reference: str
    candidate: str
    clips: int
    top1_agreement: float
    top1_same: float
    tie_band: float
    min_top1_agreement: float
    max_abs_logit_diff: float
    max_abs_attention_diff: float | None = None
    passed: bool


class TensorRTInfo(_Strict):
    file: str = PLAN_NAME
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: Precision
    min_batch: int
    opt_batch: int
    max_batch: int
    parity: ParityReport | None = None


class Manifest(_Strict):
    """A bundle's description. `input` is the model's input contract (`models.contract.InputContract`),
    copied from its card; the graph's `inputs`/`outputs` and the attention `grids` are derived from it
    (and from the model) at export, so a reader never recomputes a shape."""

    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    architecture: str
    attention: str
    labels: list[str]
    input: InputContract
    grids: dict[str, Grid] = Field(default_factory=dict)  # token grid per attention output / tokenization
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    has_attention: bool
    precision: Precision = "fp32"
    keep_ratio: float = Field(default=1.0, gt=0.0, le=1.0)  # share of tokens kept per clip (models.pruning)
    parity: ParityReport | None = None
    # int8-dynamic: the graph's linear layers in int8 (export.quantize); `parity` is then the float32
    # graph's check against PyTorch, and `quantized_parity` the int8 graph's against the float32 one
    quantization: Literal["none", "int8-dynamic"] = "none"
    quantized_parity: QuantizedParity | None = None
    tensorrt: TensorRTInfo | None = None
    versions: dict[str, str] = Field(default_factory=dict)  # torch, onnx, onnxruntime, tensorrt, vtserve
    files: dict[str, str] = Field(default_factory=dict)  # file name -> sha256 hex
    source: str = ""
    card_extra: dict[str, object] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Read schema 1 (flat input fields beside the name) as schema 2."""
        if isinstance(data, dict) and data.get("schema_version") == 1:
            return upgrade_v1(data)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported model.json schema_version {self.schema_version} (expected {SCHEMA_VERSION})"
            )
        if not self.labels:
            raise ValueError("labels must not be empty")
        if self.inputs and self.inputs[0].shape[1:] != self.input.input_shape()[1:]:
            raise ValueError(f"input tensor {self.inputs[0].shape} does not match the input contract")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def attention_grid(self) -> Grid:
        """The `(T', h, w)` grid of the attention outputs (recorded at export; the contract's by default)."""
        return self.grids.get(ATTENTION_GRID, self.input.grid)


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 manifest as schema 2: its flat sampling/resize/normalisation fields become `input`."""
    old = dict(data)
    sampling, resize = old.pop("sampling"), old.pop("resize")
    contract = {
        "num_frames": old.pop("num_frames"),
        "image_size": old.pop("image_size"),
        "patch_size": old.pop("patch_size"),
        "tubelet_size": old.pop("tubelet_size", 1),
        "mean": old.pop("mean"),
        "std": old.pop("std"),
        "sampling": sampling.get("policy", "uniform"),
        "frame_stride": sampling.get("frame_stride"),
        "target_fps": sampling.get("target_fps"),
        "resize": resize.get("policy", "short_side_center_crop"),
        "resize_short_side": resize["short_side"],
        "test_crops": resize.get("crops", 1),
    }
    return {**old, "schema_version": SCHEMA_VERSION, "input": contract}


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
