"""Model metadata is a projection of the manifest; inputs are checked against it."""

from __future__ import annotations

import numpy as np
import pytest

from export.manifest import TensorSpec
from service.errors import BadRequest
from service.oip.metadata import ModelMetadata, model_input, model_metadata, server_metadata
from service.oip.request import InferRequest
from service.oip.tensors import BytesTensor, NumericTensor, Tensor

VIDEO = TensorSpec(name="video", dtype="uint8", shape=["batch", 4, 32, 32, 3])
# Shapes deliberately unlike what frames/size/patch would give: the metadata must read them, not compute them.
OUTPUTS = [
    TensorSpec(name="logits", dtype="float32", shape=["batch", 3]),
    TensorSpec(name="temporal_attention", dtype="float32", shape=["batch", 5, 5]),
    TensorSpec(name="spatial_attention", dtype="float32", shape=["batch", 5, 7, 7]),
]


def metadata(outputs: list[TensorSpec] = OUTPUTS, runtime: str = "onnxruntime") -> ModelMetadata:
    return model_metadata("tiny", version="7", inputs=[VIDEO], outputs=outputs, runtime=runtime)


def test_model_metadata_reads_the_graph_specs() -> None:
    meta = metadata().model_dump()
    assert meta == {
        "name": "tiny",
        "versions": ["7"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "video", "datatype": "UINT8", "shape": [-1, 4, 32, 32, 3]},
            {"name": "clip", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "logits", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "temporal_attention", "datatype": "FP32", "shape": [-1, 5, 5]},
            {"name": "spatial_attention", "datatype": "FP32", "shape": [-1, 5, 7, 7]},
        ],
    }
    logits_only = metadata(OUTPUTS[:1], runtime="torch")
    assert [o.name for o in logits_only.outputs] == ["logits"] and logits_only.platform == "pytorch"


def test_server_metadata_names_the_extensions() -> None:
    meta = server_metadata("0.1.0").model_dump()
    assert meta == {
        "name": "vtserve",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data", "classification"],
    }


def request(tensor: Tensor, *more: Tensor) -> InferRequest:
    return InferRequest(id=None, inputs=(tensor, *more), outputs=None)


def video(
    shape: tuple[int, ...], dtype: type[np.generic] = np.uint8, datatype: str = "UINT8"
) -> NumericTensor:
    return NumericTensor(name="video", datatype=datatype, array=np.zeros(shape, dtype=dtype))


def test_accepted_inputs() -> None:
    meta = metadata()
    batch = video((3, 4, 32, 32, 3))
    assert model_input(request(batch), meta) is batch
    clips = BytesTensor(name="clip", shape=(2,), items=(b"x", b"y"))
    assert model_input(request(clips), meta) is clips


@pytest.mark.parametrize(
    ("tensors", "match"),
    [
        (
            (video((1, 4, 32, 31, 3)),),
            "shape \\[1, 4, 32, 31, 3\\], the model expects \\[-1, 4, 32, 32, 3\\]",
        ),
        ((video((0, 4, 32, 32, 3)),), "shape \\[0, 4, 32, 32, 3\\]"),
        ((video((4, 32, 32, 3)),), "shape"),
        ((video((1, 4, 32, 32, 3), np.float32, "FP32"),), "datatype FP32, the model expects UINT8"),
        ((BytesTensor(name="clip", shape=(1, 1), items=(b"x",)),), "shape \\[1, 1\\]"),
        ((BytesTensor(name="video", shape=(1,), items=(b"x",)),), "datatype BYTES"),
        ((NumericTensor(name="frames", datatype="UINT8", array=np.zeros(1, np.uint8)),), "no input 'frames'"),
        (
            (video((1, 4, 32, 32, 3)), BytesTensor(name="clip", shape=(1,), items=(b"x",))),
            "exactly one input",
        ),
    ],
)
def test_refused_inputs(tensors: tuple[Tensor, ...], match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        model_input(request(*tensors), metadata())
