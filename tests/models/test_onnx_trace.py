"""Models stay exportable: fixed grid, dynamic batch, attention maps included (export/ owns bundles)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import models

ort = pytest.importorskip("onnxruntime")


class _Outputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.model(x, return_attention=True)
        return out.logits, out.temporal_attention, out.spatial_attention


def _export_and_compare(name: str, path: Path, *, dynamo: bool) -> None:
    torch.manual_seed(0)
    wrapper = _Outputs(models.create_model(name).eval()).eval()
    x = torch.randn(2, 4, 3, 32, 32)
    names = ["logits", "temporal", "spatial"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            torch.onnx.export(
                wrapper, (x,), str(path), dynamo=True, dynamic_shapes={"x": {0: batch}},
                input_names=["x"], output_names=names,
            )  # fmt: skip
        else:
            axes = {n: {0: "batch"} for n in ["x", *names]}
            torch.onnx.export(
                wrapper, (x,), str(path), dynamo=False, opset_version=17,
                input_names=["x"], output_names=names, dynamic_axes=axes,
            )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x3 = torch.randn(3, 4, 3, 32, 32)  # another batch size than traced
    got = session.run(None, {"x": x3.numpy()})
    with torch.no_grad():
        expected = wrapper(x3)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e.numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["timesformer_tiny", "vivit_fe_tiny"])
def test_legacy_export_with_dynamic_batch(tmp_path: Path, name: str) -> None:
    _export_and_compare(name, tmp_path / "m.onnx", dynamo=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["timesformer_tiny", "timesformer_tiny_joint", "timesformer_tiny_space_only", "vivit_tiny",
             "vivit_fe_tiny", "videomae_tiny"],
)  # fmt: skip
def test_dynamo_export_with_dynamic_batch(tmp_path: Path, name: str) -> None:
    _export_and_compare(name, tmp_path / "m.onnx", dynamo=True)
