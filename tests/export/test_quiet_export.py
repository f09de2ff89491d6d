"""Exporting logs none of the exporters' chatter (onnx_ir's passes log every initializer they touch)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from export.bundle import export_model


def test_export_keeps_the_exporters_info_logs_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import models

    torch.manual_seed(0)
    model = models.create_model("timesformer_tiny", num_frames=2, image_size=32).eval()
    caplog.set_level(logging.INFO)  # as `vtserve serve` logs by default, exporting on first start
    export_model(model, tmp_path / "bundle", attention=True)
    libraries = {"torch", "onnx", "onnxscript", "onnx_ir", "onnxruntime"}
    chatter = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno < logging.WARNING and r.name.split(".")[0] in libraries
    ]
    assert chatter == []
