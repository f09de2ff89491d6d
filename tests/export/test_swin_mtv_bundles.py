"""Video Swin and MTV tiny models export with their attention outputs, and the bundles match PyTorch.

Bundles from `tests/export/swin_mtv.py` (export's own parity check, recorded in `model.json`). Here, on
top: the manifest records every token grid the model has (stages, views), the dynamo exporter was used,
and onnxruntime at a third batch size matches the saved checkpoint loaded in PyTorch, with the frames
normalised here in numpy from the bundle's own mean/std.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models
from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL, read_manifest
from export.ort_session import open_session, random_video, run_session
from tests.export.swin_mtv import NAMES, cached_bundle

ATTENTION = {"video_swin_tiny": "shifted_windows", "mtv_tiny": "multiview"}


@pytest.mark.parametrize("name", NAMES)
def test_bundle_matches_pytorch_and_records_every_grid(
    name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bundle = cached_bundle(name, request, tmp_path_factory)
    manifest = read_manifest(bundle)
    model = models.load_pretrained(bundle.parent / "checkpoint")
    assert manifest.attention == ATTENTION[name] and manifest.has_attention
    assert manifest.versions["onnx_exporter"] == "dynamo"
    assert manifest.grids == model.token_grids() and manifest.attention_grid == model.grid
    parity = manifest.parity
    assert parity is not None and parity.passed and parity.max_abs_attention_diff is not None
    assert parity.max_abs_attention_diff <= 1e-4
    assert all(case.max_abs_logit_diff <= 1e-4 and case.top1_agree for case in parity.cases)
    t, h, w = model.grid
    shapes = {o.name: o.shape for o in manifest.outputs}
    assert shapes[OUTPUT_TEMPORAL] == ["batch", t, t] and shapes[OUTPUT_SPATIAL] == ["batch", t, h, w]

    c = manifest.input
    video = random_video(2, c.num_frames, c.image_size, seed=5)
    outputs = run_session(open_session(bundle / "model.onnx"), video)
    mean, std = np.asarray(c.mean, dtype=np.float32), np.asarray(c.std, dtype=np.float32)
    scaled = (video.astype(np.float32) / np.float32(255.0) - mean) / std
    x = torch.from_numpy(np.ascontiguousarray(scaled.astype(np.float32).transpose(0, 1, 4, 2, 3)))
    with torch.no_grad():
        expected = model(x, return_attention=True)
    for key, value in (
        (OUTPUT_LOGITS, expected.logits),
        (OUTPUT_TEMPORAL, expected.temporal_attention),
        (OUTPUT_SPATIAL, expected.spatial_attention),
    ):
        assert value is not None
        np.testing.assert_allclose(outputs[key], value.numpy(), rtol=0, atol=1e-4, err_msg=key)
