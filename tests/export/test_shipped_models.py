"""The shipped demo models export and reproduce their PyTorch accuracy through onnxruntime.

Skips (with the reason) until `models/weights/<name>/` exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.manifest import INPUT_NAME, ONNX_NAME, OUTPUT_LOGITS, read_manifest

SHIPPED = ["motion-timesformer", "motion-vivit"]
TEST_CLIPS = 120
MIN_ACCURACY = 0.97


def _shipped_or_skip(name: str) -> None:
    import models

    if models.shipped_path(name) is None:
        pytest.skip(f"shipped model {name} has no weights yet (models/weights/{name}/ is missing)")


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = str(request.param)
    _shipped_or_skip(name)
    from export import build_bundle

    out = tmp_path_factory.mktemp(f"shipped-{name}") / name
    build_bundle(name, out)
    return name, out


def test_shipped_model_accuracy_through_onnxruntime(shipped: tuple[str, Path]) -> None:
    import models
    from models.demo.data import to_tensor
    from models.demo.motion import make_test_set

    name, bundle = shipped
    manifest = read_manifest(bundle)
    clips, labels = make_test_set(
        TEST_CLIPS, seed=4321, num_frames=manifest.num_frames, size=manifest.image_size
    )
    session = ort.InferenceSession(str(bundle / ONNX_NAME), providers=["CPUExecutionProvider"])
    onnx_pred = np.concatenate(
        [
            session.run([OUTPUT_LOGITS], {INPUT_NAME: clips[i : i + 16]})[0].argmax(1)
            for i in range(0, len(clips), 16)
        ]
    )
    model: Any = models.load_pretrained(name).eval()
    with torch.no_grad():
        torch_pred = model(to_tensor(clips, manifest.mean, manifest.std)).logits.argmax(1).numpy()
    np.testing.assert_array_equal(onnx_pred, torch_pred)
    accuracy = float((onnx_pred == labels).mean())
    assert accuracy >= MIN_ACCURACY, f"{name}: onnxruntime top-1 {accuracy:.3f} on {TEST_CLIPS} test clips"
