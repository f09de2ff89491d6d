"""Fill in a bundle's `Manifest` from a model card and what the export produced. Torch-free."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from export.manifest import (
    INPUT_NAME,
    MANIFEST_NAME,
    OUTPUT_LOGITS,
    OUTPUT_SPATIAL,
    OUTPUT_TEMPORAL,
    Manifest,
    ParityReport,
    ResizeSpec,
    SamplingSpec,
    TensorRTInfo,
    TensorSpec,
    sha256_file,
)


class CardLike(Protocol):
    """The fields of `models.card.ModelCard` that a manifest copies (kept structural: no models import)."""

    name: str
    architecture: str
    attention: str
    labels: tuple[str, ...]
    num_frames: int
    image_size: int
    patch_size: int
    tubelet_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sampling: Any
    frame_stride: int | None
    target_fps: float | None
    resize_short_side: int | None
    test_crops: int
    version: str
    source: str
    extra: dict[str, Any]


def tensor_specs(card: CardLike, output_names: Sequence[str]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's input and outputs, batch axis named "batch"."""
    t_prime = card.num_frames // card.tubelet_size
    side = card.image_size // card.patch_size
    shapes: dict[str, list[int | str]] = {
        OUTPUT_LOGITS: ["batch", len(card.labels)],
        OUTPUT_TEMPORAL: ["batch", t_prime, t_prime],
        OUTPUT_SPATIAL: ["batch", t_prime, side, side],
    }
    inputs = [
        TensorSpec(
            name=INPUT_NAME,
            dtype="uint8",
            shape=["batch", card.num_frames, card.image_size, card.image_size, 3],
        )
    ]
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
    card: CardLike,
    *,
    output_names: Sequence[str],
    versions: Mapping[str, str],
    files: Mapping[str, str],
    parity: ParityReport | None,
    tensorrt: TensorRTInfo | None = None,
    source: str = "",
) -> Manifest:
    inputs, outputs = tensor_specs(card, output_names)
    sampling = SamplingSpec(
        policy=card.sampling,
        num_frames=card.num_frames,
        frame_stride=card.frame_stride,
        target_fps=card.target_fps,
    )
    resize = ResizeSpec(
        short_side=card.resize_short_side or card.image_size,
        crop_size=card.image_size,
        crops=card.test_crops,
    )
    return Manifest(
        name=card.name,
        version=card.version,
        architecture=card.architecture,
        attention=card.attention,
        labels=list(card.labels),
        num_frames=card.num_frames,
        image_size=card.image_size,
        patch_size=card.patch_size,
        tubelet_size=card.tubelet_size,
        mean=(float(card.mean[0]), float(card.mean[1]), float(card.mean[2])),
        std=(float(card.std[0]), float(card.std[1]), float(card.std[2])),
        sampling=sampling,
        resize=resize,
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
