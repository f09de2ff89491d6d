"""An operator that onnxruntime cannot run becomes a one-line `UnsupportedOpError`."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from export.errors import UnsupportedOpError
from export.ort_session import open_session


def write_unrunnable_graph(path: Path) -> Path:
    """A valid ONNX file whose only node is a custom-domain op no runtime implements."""
    video = helper.make_tensor_value_info("video", TensorProto.UINT8, ["batch", 4, 32, 32, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])
    node = helper.make_node("FrobnicateVideo", ["video"], ["logits"], domain="com.example")
    graph = helper.make_graph([node], "unrunnable", [video], [logits])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)]
    )
    onnx.save(model, str(path))
    return path


def test_open_session_names_the_op_and_the_fix(tmp_path: Path) -> None:
    path = write_unrunnable_graph(tmp_path / "model.onnx")
    with pytest.raises(UnsupportedOpError) as info:
        open_session(path)
    message = str(info.value)
    assert "\n" not in message
    assert "FrobnicateVideo" in message
    assert "fix:" in message and "onnxruntime" in message
