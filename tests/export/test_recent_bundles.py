"""V-JEPA 2 and VideoPrism transformers folders exported with `vtserve export`: onnxruntime gives
transformers' logits (uint8 frames in, batch 1 and 3, within 1e-4) and the three outputs."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.manifest import (
    INPUT_NAME,
    ONNX_NAME,
    OUTPUT_LOGITS,
    OUTPUT_SPATIAL,
    OUTPUT_TEMPORAL,
    Manifest,
    read_manifest,
)
from service.cli import main

ARCHS = ["vjepa2", "videoprism"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Any, str]]:
    """`exported(arch)` → (bundle written by `vtserve export <hf folder>`, the transformers model, stdout)."""
    from tests.models import hf_recent

    cache: dict[str, tuple[Path, Any, str]] = {}

    def get(arch: str) -> tuple[Path, Any, str]:
        if arch not in cache:
            hf = getattr(hf_recent, arch)()
            root = tmp_path_factory.mktemp(f"recent-{arch}")
            hf.save_pretrained(root / "hf")
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                status = main(["export", str(root / "hf"), "--out", str(root / "bundle")])
            assert status == 0, stdout.getvalue()
            cache[arch] = (root / "bundle", hf, stdout.getvalue())
        return cache[arch]

    return get


def _normalised(video: np.ndarray, manifest: Manifest) -> torch.Tensor:
    scaled = video.astype(np.float32) / np.float32(255.0)
    x = (scaled - np.asarray(manifest.input.mean, np.float32)) / np.asarray(manifest.input.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.astype(np.float32).transpose(0, 1, 4, 2, 3)))


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_logits_match_transformers(arch: str, exported: Callable[[str], tuple[Path, Any, str]]) -> None:
    from tests.models.hf_recent import logits

    bundle, hf, stdout = exported(arch)
    assert "parity vs PyTorch" in stdout
    manifest = read_manifest(bundle)
    assert manifest.attention == arch and manifest.keep_ratio == 1.0
    assert manifest.parity is not None and manifest.parity.passed
    session = ort.InferenceSession(str(bundle / ONNX_NAME), providers=["CPUExecutionProvider"])
    size, frames = manifest.input.image_size, manifest.input.num_frames
    for batch, seed in ((1, 21), (3, 22)):
        video = np.random.default_rng(seed).integers(0, 256, (batch, frames, size, size, 3), dtype=np.uint8)
        (got,) = session.run([OUTPUT_LOGITS], {INPUT_NAME: video})
        expected = logits(hf, _normalised(video, manifest)).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_bundle_has_the_three_outputs_on_the_token_grid(
    arch: str, exported: Callable[[str], tuple[Path, Any, str]]
) -> None:
    bundle, _hf, _ = exported(arch)
    manifest = read_manifest(bundle)
    t, h, w = manifest.attention_grid
    assert [o.name for o in manifest.outputs] == [OUTPUT_LOGITS, OUTPUT_TEMPORAL, OUTPUT_SPATIAL]
    session = ort.InferenceSession(str(bundle / ONNX_NAME), providers=["CPUExecutionProvider"])
    video = np.random.default_rng(1).integers(0, 256, (2, *manifest.inputs[0].shape[1:]), dtype=np.uint8)
    _, temporal, spatial = session.run(None, {INPUT_NAME: video})
    assert temporal.shape == (2, t, t) and spatial.shape == (2, t, h, w)
    np.testing.assert_allclose(temporal.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(spatial.sum((-1, -2)), 1.0, atol=1e-5)
