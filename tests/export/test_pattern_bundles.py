"""Every attention pattern's tiny model exports to an ONNX bundle that matches PyTorch on uint8 input.

The bundles are built as `vtserve export <folder> --out <bundle>` builds them (`export.build_bundle` on
a `save_pretrained` folder), so export's own parity check (onnxruntime vs PyTorch, batch 1 and 3,
1e-4 on logits and attention maps) runs and is recorded in `model.json`. Exports take 5-40 s each
on two shared cores, so two patterns run by default (a masked one with a learned bias, and the
split-head one) and the rest under `-m slow`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import models
from export import build_bundle
from export.manifest import OUTPUT_SPATIAL, OUTPUT_TEMPORAL, read_manifest
from export.ort_session import open_session, random_video, run_session
from export.parity import ONNX_TOLERANCE

PATTERNS = {
    "factorised_self_attention_tiny": "factorised_self_attention",
    "factorised_dot_product_tiny": "factorised_dot_product",
    "axial_tiny": "axial",
    "local_global_tiny": "local_global",
    "strided_sparse_tiny": "strided_sparse",
    "windowed_tiny": "windowed",
    "timesformer_tiny_relpos": "divided_space_time",
    "multiscale_tiny": "multiscale",  # three encoders: the slowest export (~20-40 s here)
}
DEFAULT = ("windowed_tiny", "factorised_dot_product_tiny")
MASKS = {
    "windowed_tiny": lambda i, j: abs(i - j) <= 1,
    "strided_sparse_tiny": lambda i, j: (i - j) % 2 == 0,
}


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in PATTERNS]
)
def test_pattern_bundle_matches_pytorch(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = models.create_model(name).eval()
    with torch.no_grad():  # relative biases start at zero: make them matter
        for key, p in model.named_parameters():
            if key.endswith("table"):
                p.normal_(0, 0.5)
    folder = models.save_pretrained(model, tmp_path / "checkpoint")
    build_bundle(folder, tmp_path / "bundle")

    manifest = read_manifest(tmp_path / "bundle")
    assert manifest.attention == PATTERNS[name] and manifest.has_attention
    assert manifest.versions["onnx_exporter"] == "dynamo"  # no pattern needs the TorchScript fallback
    assert [o.name for o in manifest.outputs][1:] == [OUTPUT_TEMPORAL, OUTPUT_SPATIAL]
    parity = manifest.parity
    assert parity is not None and parity.passed and parity.tolerance == ONNX_TOLERANCE
    assert parity.max_abs_attention_diff is not None and parity.max_abs_attention_diff <= 1e-4
    assert all(case.max_abs_logit_diff <= 1e-4 and case.top1_agree for case in parity.cases)

    outputs = run_session(open_session(tmp_path / "bundle" / "model.onnx"), random_video(2, 8, 32, seed=5))
    temporal = outputs[OUTPUT_TEMPORAL]
    np.testing.assert_allclose(temporal.sum(-1), 1.0, atol=1e-5)
    if name in MASKS:  # masked frames stay exactly zero through onnxruntime
        t = temporal.shape[-1]
        outside = np.array([[not MASKS[name](i, j) for j in range(t)] for i in range(t)])
        assert (temporal[:, outside] == 0.0).all() and (temporal[:, ~outside] > 0).all()
