"""Responses, read back with tritonclient's own `parse_response_body`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from service.errors import BadRequest
from service.oip.metadata import TensorMetadata
from service.oip.request import InferRequest, OutputRequest
from service.oip.response import Selected, classification, encode_response, plan_outputs, render_outputs
from service.postprocess import softmax

LABELS = ["run", "walk", "jump", "sit"]
RNG = np.random.default_rng(1)
OUTPUTS = {
    "logits": RNG.standard_normal((2, 4)).astype(np.float32),
    "temporal_attention": RNG.random((2, 3, 3)).astype(np.float32),
    "spatial_attention": RNG.random((2, 3, 2, 2)).astype(np.float32),
}
DECLARED = [TensorMetadata(name=k, datatype="FP32", shape=[-1, *v.shape[1:]]) for k, v in OUTPUTS.items()]


def select_outputs(request: InferRequest) -> list[Selected]:
    return render_outputs(plan_outputs(request, DECLARED), OUTPUTS, LABELS)


def respond(request: InferRequest) -> triton.InferResult:
    encoded = encode_response(
        model_name="tiny",
        model_version="1",
        request_id=request.id,
        outputs=select_outputs(request),
    )
    result = triton.InferenceServerClient.parse_response_body(
        encoded.body, header_length=encoded.header_length
    )
    assert encoded.media_type == (
        "application/json" if encoded.header_length is None else "application/octet-stream"
    )
    return result


@pytest.mark.parametrize("binary", [False, True])
def test_every_output_by_default_exactly(binary: bool) -> None:
    result = respond(InferRequest(id="r", inputs=(), outputs=None, binary_data_output=binary))
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("tiny", "1", "r")
    assert [o["name"] for o in response["outputs"]] == list(OUTPUTS)
    for name, expected in OUTPUTS.items():
        got = result.as_numpy(name)
        assert got is not None and got.dtype == np.float32 and np.array_equal(got, expected), name
        assert ("data" in result.get_output(name)) is not binary


def test_per_output_binary_overrides_the_request() -> None:
    outputs = (OutputRequest(name="spatial_attention", binary=False), OutputRequest(name="logits"))
    result = respond(InferRequest(id=None, inputs=(), outputs=outputs, binary_data_output=True))
    response = result.get_response()
    assert "id" not in response and [o["name"] for o in response["outputs"]] == [
        "spatial_attention",
        "logits",
    ]
    assert "data" in result.get_output("spatial_attention") and "data" not in result.get_output("logits")
    assert np.array_equal(result.as_numpy("logits"), OUTPUTS["logits"])


def test_classification_formats() -> None:
    logits = np.array([[0.5, 2.0, -1.0, 2.0]], dtype=np.float32)
    tensor = classification("logits", logits, LABELS, 3)
    assert tensor.shape == (1, 3)
    assert tensor.items == (b"2.000000:1:walk", b"2.000000:3:sit", b"0.500000:0:run")
    assert classification("x", logits, None, 9).items[-1] == b"-1.000000:2"
    with pytest.raises(BadRequest, match="classification needs"):
        classification("temporal_attention", OUTPUTS["temporal_attention"], None, 1)


@pytest.mark.parametrize("binary", [False, True])
def test_labels_are_top_k_softmax_scores(binary: bool) -> None:
    request = InferRequest(id=None, inputs=(), outputs=None, classification=2, binary_data_output=binary)
    result = respond(request)
    labels = result.as_numpy("labels")
    assert labels is not None and labels.shape == (2, 2)
    scores = softmax(OUTPUTS["logits"])
    for row in range(2):
        best = np.argsort(-scores[row])[:2]
        expected = [f"{scores[row, i]:f}:{i}:{LABELS[i]}".encode() for i in best]
        assert [x if isinstance(x, bytes) else x.encode() for x in labels[row]] == expected
    assert result.as_numpy("logits") is not None  # the default outputs are still there


def test_triton_classification_on_logits() -> None:
    result = respond(
        InferRequest(id=None, inputs=(), outputs=(OutputRequest(name="logits", classification=1),))
    )
    output = result.get_output("logits")
    best = OUTPUTS["logits"].argmax(axis=1)
    assert output["datatype"] == "BYTES" and output["shape"] == [2, 1]
    assert [s.split(":")[1:] for s in output["data"]] == [[str(i), LABELS[i]] for i in best]


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        ((OutputRequest(name="embeddings"),), "no output 'embeddings'; the model has 'logits', "),
        ((OutputRequest(name="labels"),), "needs parameters.classification"),
        ((OutputRequest(name="temporal_attention", classification=2),), "classification needs"),
    ],
)
def test_bad_output_requests(outputs: tuple[OutputRequest, ...], match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        plan_outputs(InferRequest(id=None, inputs=(), outputs=outputs), DECLARED)


def test_json_body_is_plain_json_without_header_length() -> None:
    selected = select_outputs(InferRequest(id=None, inputs=(), outputs=None))
    encoded = encode_response(model_name="tiny", model_version="1", request_id=None, outputs=selected)
    assert encoded.header_length is None
    assert json.loads(encoded.body)["outputs"][0]["data"] == OUTPUTS["logits"].reshape(-1).tolist()
