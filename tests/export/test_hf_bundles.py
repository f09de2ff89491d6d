"""Bundles exported from transformers checkpoints reproduce transformers, fed uint8 frames.

The reference normalises here, in numpy, with the bundle's own mean/std (independently of export's code).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.manifest import (
    INPUT_NAME,
    MANIFEST_NAME,
    ONNX_NAME,
    OUTPUT_LOGITS,
    Manifest,
    read_manifest,
    verify_files,
)
from tests.export.conftest import IMAGE_SIZE, LABELS, NUM_FRAMES

ARCHS = ["timesformer", "videomae", "vivit"]


def _video(batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)


def _normalised(video: np.ndarray, manifest: Manifest) -> torch.Tensor:
    scaled = video.astype(np.float32) / np.float32(255.0)
    mean = np.asarray(manifest.input.mean, dtype=np.float32)
    std = np.asarray(manifest.input.std, dtype=np.float32)
    x = ((scaled - mean) / std).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3)))  # [B, T, 3, H, W]


def _session(bundle: Path) -> Any:
    return ort.InferenceSession(str(bundle / ONNX_NAME), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_logits_match_transformers(
    arch: str, hf_folder: Callable[[str], tuple[Path, Any]], hf_bundle: Callable[[str], Path]
) -> None:
    _folder, hf_model = hf_folder(arch)
    bundle = hf_bundle(arch)
    manifest = read_manifest(bundle)
    session = _session(bundle)
    for batch, seed in ((1, 11), (3, 12)):
        video = _video(batch, seed)
        (logits,) = session.run([OUTPUT_LOGITS], {INPUT_NAME: video})
        with torch.no_grad():
            expected = hf_model(pixel_values=_normalised(video, manifest)).logits.numpy()
        assert logits.shape == (batch, len(LABELS))
        np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(logits.argmax(1), expected.argmax(1))


@pytest.mark.parametrize("arch", ARCHS)
def test_manifest_describes_graph_and_round_trips(arch: str, hf_bundle: Callable[[str], Path]) -> None:
    bundle = hf_bundle(arch)
    manifest = read_manifest(bundle)
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest
    assert manifest.architecture == arch
    assert manifest.labels == LABELS
    assert (manifest.input.num_frames, manifest.input.image_size) == (NUM_FRAMES, IMAGE_SIZE)
    assert manifest.inputs[0].shape == ["batch", NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert manifest.has_attention and len(manifest.outputs) >= 2
    assert {"torch", "onnx", "onnxruntime", "onnx_exporter", "onnx_opset"} <= set(manifest.versions)
    assert int(manifest.versions["onnx_opset"]) >= 17
    assert manifest.parity is not None and manifest.parity.passed
    assert [c.batch for c in manifest.parity.cases] == [1, 3]
    assert all(c.max_abs_logit_diff <= 1e-4 and c.top1_agree for c in manifest.parity.cases)
    assert manifest.parity.max_abs_attention_diff is not None
    assert manifest.parity.max_abs_attention_diff <= 1e-4
    # nothing else was left beside the bundle (no temporary build folders)
    assert [p.name for p in bundle.parent.iterdir()] == [bundle.name]
    assert sorted(p.name for p in bundle.iterdir()) == sorted([MANIFEST_NAME, *manifest.files])


@pytest.mark.parametrize("arch", ARCHS)
def test_declared_shapes_match_what_onnxruntime_returns(arch: str, hf_bundle: Callable[[str], Path]) -> None:
    bundle = hf_bundle(arch)
    manifest = read_manifest(bundle)
    session = _session(bundle)
    assert [i.name for i in session.get_inputs()] == [spec.name for spec in manifest.inputs]
    assert [o.name for o in session.get_outputs()] == [spec.name for spec in manifest.outputs]
    batch = 2
    values = session.run(None, {INPUT_NAME: _video(batch, 5)})
    for spec, value in zip(manifest.outputs, values, strict=True):
        expected = tuple(batch if d == "batch" else d for d in spec.shape)
        assert value.shape == expected, spec.name
        assert value.dtype == np.float32
        assert np.all(np.isfinite(value))
        if spec.name != OUTPUT_LOGITS:
            assert spec.shape[1] == manifest.attention_grid.t
            assert value.min() >= 0.0  # attention weights


def test_sha256_detects_a_changed_file(hf_bundle: Callable[[str], Path], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(hf_bundle("timesformer"), copy)
    manifest = read_manifest(copy)
    assert verify_files(copy, manifest) == []
    with (copy / ONNX_NAME).open("ab") as fh:
        fh.write(b"\0")
    assert verify_files(copy, manifest) == [ONNX_NAME]
