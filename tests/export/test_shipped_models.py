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
TEST_CLIPS = 220  # the card records accuracy on the first 220 clips of its test set


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


def _recorded_first_n(manifest_extra: dict[str, Any]) -> tuple[int | None, float | None]:
    """(test seed, accuracy on the first TEST_CLIPS clips) as the training code recorded them, if it did."""
    test = manifest_extra.get("results", {}).get("test", {})
    seed = test.get("test_seed")
    first = test.get(f"first_{TEST_CLIPS}", {})
    return (int(seed) if seed is not None else None, first.get("accuracy"))


def test_shipped_model_accuracy_through_onnxruntime(shipped: tuple[str, Path]) -> None:
    import models
    from models.demo.data import to_tensor
    from models.demo.motion import make_test_set

    name, bundle = shipped
    manifest = read_manifest(bundle)
    seed, recorded = _recorded_first_n(manifest.card_extra)
    clips, labels = make_test_set(
        TEST_CLIPS,
        seed=seed if seed is not None else 4321,
        num_frames=manifest.input.num_frames,
        size=manifest.input.image_size,
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
        torch_pred = model(to_tensor(clips, manifest.input.mean, manifest.input.std)).logits.argmax(1).numpy()
    np.testing.assert_array_equal(onnx_pred, torch_pred)
    accuracy = float((onnx_pred == labels).mean())
    if recorded is not None:  # the checkpoint's own test accuracy, reproduced through onnxruntime
        assert abs(accuracy - float(recorded)) <= 1.0 / TEST_CLIPS + 1e-9, (name, accuracy, recorded)
