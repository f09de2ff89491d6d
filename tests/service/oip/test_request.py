"""Parsing infer requests, with bodies built by tritonclient's own `generate_request_body`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from service.errors import BadRequest
from service.oip.request import OutputRequest, parse_infer_request, split_body
from service.oip.tensors import BytesTensor, NumericTensor, join_bytes


def body_of(
    inputs: list[triton.InferInput], outputs: list[triton.InferRequestedOutput] | None = None, **kw: object
) -> tuple[bytes, str | None]:
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, outputs, **kw)
    return body, None if json_size is None else str(json_size)


def video_input(video: np.ndarray, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("video", list(video.shape), "UINT8")
    return tensor.set_data_from_numpy(video, binary_data=binary)


def test_binary_uint8_and_bytes_inputs_in_order() -> None:
    video = np.random.default_rng(0).integers(0, 256, (2, 4, 8, 8, 3), dtype=np.uint8)
    clips = np.array([b"\x00first clip", b"second"], dtype=np.object_)
    clip = triton.InferInput("clip", [2], "BYTES").set_data_from_numpy(clips)
    body, length = body_of([video_input(video), clip], request_id="r-1")
    request = parse_infer_request(body, length)
    assert request.id == "r-1" and request.outputs is None and request.binary_data_output
    first, second = request.inputs
    assert isinstance(first, NumericTensor) and np.array_equal(first.array, video)
    assert isinstance(second, BytesTensor) and second.items == (b"\x00first clip", b"second")


def test_json_input_and_requested_outputs() -> None:
    video = np.arange(2 * 3, dtype=np.uint8).reshape(1, 2, 3)
    outputs = [
        triton.InferRequestedOutput("logits", binary_data=False, class_count=3),
        triton.InferRequestedOutput("temporal_attention", binary_data=True),
    ]
    body, length = body_of([video_input(video, binary=False)], outputs, parameters={"classification": 2})
    assert length is None
    request = parse_infer_request(body, length)
    tensor = request.inputs[0]
    assert isinstance(tensor, NumericTensor) and tensor.array.dtype == np.uint8
    assert np.array_equal(tensor.array, video)
    assert request.outputs == (
        OutputRequest(name="logits", binary=False, classification=3),
        OutputRequest(name="temporal_attention", binary=True, classification=0),
    )
    assert request.classification == 2 and not request.binary_data_output


def test_unknown_parameters_are_ignored() -> None:
    video = np.zeros((1, 1, 1, 1, 3), dtype=np.uint8)
    body, length = body_of([video_input(video)], priority=3, timeout=1000, parameters={"mine": "x"})
    assert parse_infer_request(body, length).inputs[0].shape == (1, 1, 1, 1, 3)


def _raw(document: dict[str, object], binary: bytes = b"") -> tuple[bytes, str | None]:
    header = json.dumps(document).encode()
    return header + binary, str(len(header)) if binary else None


def _one(**fields: object) -> dict[str, object]:
    return {"inputs": [{"name": "video", "shape": [1], "datatype": "UINT8", **fields}]}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ((b"{not json", None), "not valid JSON"),
        ((b"[1, 2]", None), "invalid infer request"),
        (_raw({"inputs": []}), "inputs"),
        (_raw(_one(data=[1], shape=[-1])), "shape"),
        (_raw(_one(data=[1], shape=[True])), "shape"),
        (_raw(_one(data=[1], shape=["1"])), "shape"),
        (_raw(_one(data=[1], shape=[1] * 17)), "shape"),
        (_raw(_one()), "no data"),
        (_raw(_one(datatype="COMPLEX", data=[1])), "unsupported datatype"),
        (_raw(_one(data=[1], parameters={"shared_memory_region": "r"})), "shared memory"),
        (_raw(_one(parameters={"binary_data_size": 2}), b"\x01"), "runs past"),
        (
            _raw(_one(parameters={"binary_data_size": 1}), b"\x01\x02"),
            "1 bytes of binary data belong to no input",
        ),
        (_raw(_one(parameters={"binary_data_size": 1}, data=[1]), b"\x01"), "both"),
        (_raw(_one(parameters={"binary_data_size": "1"}), b"\x01"), "non-negative integer"),
        (_raw({**_one(data=[1]), "parameters": {"binary_data_output": "yes"}}), "true or false"),
        (_raw({**_one(data=[1]), "outputs": [{"name": "a"}, {"name": "a"}]}), "more than once"),
        (_raw({"inputs": [*_one(data=[1])["inputs"], *_one(data=[2])["inputs"]]}), "more than once"),  # type: ignore[misc]
    ],
)
def test_malformed_requests_are_refused(body: tuple[bytes, str | None], match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        parse_infer_request(*body)


@pytest.mark.parametrize("length", ["0", "-3", "abc", "100"])
def test_header_length_must_lie_inside_the_body(length: str) -> None:
    with pytest.raises(BadRequest, match="Inference-Header-Content-Length"):
        split_body(b'{"inputs": []}', length)


def test_binary_data_without_header_length_is_not_json() -> None:
    header = json.dumps(_one(parameters={"binary_data_size": 1})).encode()
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_infer_request(header + b"\x07", None)


def test_empty_bytes_tensor_in_binary() -> None:
    raw = join_bytes([b"", b"abcde"])
    spec = {"name": "clip", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}
    tensor = parse_infer_request(*_raw({"inputs": [spec]}, raw)).inputs[0]
    assert isinstance(tensor, BytesTensor) and tensor.items == (b"", b"abcde")
