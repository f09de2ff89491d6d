"""Fill in a bundle's `Manifest` from a model card and what the export produced.

Torch-free: `models.card` and `models.contract` are pure Python and importing them does not import torch.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from pathlib import Path

from export.manifest import (
    ATTENTION_GRID,
    INPUT_NAME,
    MANIFEST_NAME,
    OUTPUT_LOGITS,
    OUTPUT_SPATIAL,
    OUTPUT_TEMPORAL,
    Manifest,
    ParityReport,
    TensorRTInfo,
    TensorSpec,
    sha256_file,
)
from models.card import ModelCard
from models.contract import Grid, InputContract


def tensor_specs(
    contract: InputContract, grid: Grid, num_classes: int, output_names: Sequence[str]
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's input (from the contract) and outputs (attention on `grid`), batch axis "batch"."""
    shapes: dict[str, list[int | str]] = {
        OUTPUT_LOGITS: ["batch", num_classes],
        OUTPUT_TEMPORAL: ["batch", grid.t, grid.t],
        OUTPUT_SPATIAL: ["batch", grid.t, grid.h, grid.w],
    }
    inputs = [TensorSpec(name=INPUT_NAME, dtype="uint8", shape=contract.input_shape())]
    outputs = [TensorSpec(name=name, dtype="float32", shape=shapes[name]) for name in output_names]
    return inputs, outputs


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def tool_versions(*, exporter: str, opset: int, fallback_reason: str | None = None) -> dict[str, str]:
    """torch / onnx / onnxruntime / onnxscript / vtserve versions and how the graph was exported."""
    versions: dict[str, str] = {}
    for key, dist in (
        ("torch", "torch"),
        ("onnx", "onnx"),
        ("onnxscript", "onnxscript"),
        ("onnxruntime", "onnxruntime"),
        ("onnxruntime-gpu", "onnxruntime-gpu"),
        ("vtserve", "vtserve"),
    ):
        value = _version(dist)
        if value is not None:
            versions[key] = value
    versions["onnx_exporter"] = exporter
    versions["onnx_opset"] = str(opset)
    if fallback_reason:
        versions["onnx_exporter_note"] = f"dynamo exporter failed, used torchscript: {fallback_reason}"
    return versions


def file_hashes(bundle_dir: Path) -> dict[str, str]:
    """sha256 of every file in the bundle folder except `model.json` itself."""
    return {
        path.name: sha256_file(path)
        for path in sorted(Path(bundle_dir).iterdir())
        if path.is_file() and path.name != MANIFEST_NAME
    }


def build_manifest(
    card: ModelCard,
    *,
    output_names: Sequence[str],
    versions: Mapping[str, str],
    files: Mapping[str, str],
    parity: ParityReport | None,
    grids: Mapping[str, Grid] | None = None,
    tensorrt: TensorRTInfo | None = None,
    source: str = "",
) -> Manifest:
    """The manifest of a model exported with `output_names`; `grids` are the model's token grids
    (default: the contract's grid for the attention outputs)."""
    all_grids = {ATTENTION_GRID: card.input.grid, **(grids or {})}
    inputs, outputs = tensor_specs(card.input, all_grids[ATTENTION_GRID], card.num_classes, output_names)
    return Manifest(
        name=card.name,
        version=card.version,
        architecture=card.architecture,
        attention=card.attention,
        labels=list(card.labels),
        input=card.input,
        grids=all_grids,
        inputs=inputs,
        outputs=outputs,
        has_attention=len(output_names) > 1,
        precision="fp32",
        parity=parity,
        tensorrt=tensorrt,
        versions=dict(versions),
        files=dict(files),
        source=source or card.source,
        card_extra=dict(card.extra),
    )
