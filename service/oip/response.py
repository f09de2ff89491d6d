"""Building an infer response: which outputs, the classification extension, and the body (JSON or binary).

Outputs: those the request names, or every output of the model when it names none. Each goes back as JSON
`data`, or as binary data after the JSON when its `parameters.binary_data` (else the request's
`parameters.binary_data_output`) is true; the JSON's length is then sent as `Inference-Header-Content-Length`.

Classification (Triton's extension): an output asked for with `parameters.classification: k` comes back as
BYTES `[B, k]`, each row's k largest values best first as "value:index:label" (value as C's `%f`). On
`logits` the value is the logit, as Triton does. `labels` is the same on the softmax scores (the
probabilities `/v1/predictions` reports); the request-level `parameters.classification: k` adds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from export.manifest import OUTPUT_LOGITS
from service.errors import BadRequest
from service.oip.metadata import LABELS_OUTPUT, TensorMetadata
from service.oip.request import InferRequest, OutputRequest
from service.oip.tensors import BytesTensor, NumericTensor, Tensor, to_binary, to_json
from service.postprocess import softmax

JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


@dataclass(frozen=True, kw_only=True)
class Selected:
    tensor: Tensor
    binary: bool


@dataclass(frozen=True, kw_only=True)
class EncodedResponse:
    body: bytes
    header_length: int | None  # the JSON's length when binary data follows it, else None

    @property
    def media_type(self) -> str:
        return JSON_TYPE if self.header_length is None else BINARY_TYPE


def classification(
    name: str, values: NDArray[np.floating], labels: Sequence[str] | None, k: int
) -> BytesTensor:
    """Each row's `k` largest values (ties: lower index first) as b"value:index:label", best first."""
    if values.ndim != 2:
        raise BadRequest(f"output {name!r}: classification needs a [batch, classes] output")
    rows, classes = values.shape
    k = min(k, classes)
    order = np.argsort(-values.astype(np.float64), axis=1, kind="stable")[:, :k]
    items: list[bytes] = []
    for row in range(rows):
        for index in order[row].tolist():
            text = f"{float(values[row, index]):f}:{index}"
            if labels is not None:
                text += f":{labels[index]}"
            items.append(text.encode("utf-8"))
    return BytesTensor(name=name, shape=(rows, k), items=tuple(items))


def _wanted(request: InferRequest, available: Sequence[str]) -> list[OutputRequest]:
    wanted = list(request.outputs) if request.outputs else [OutputRequest(name=n) for n in available]
    if request.classification and all(o.name != LABELS_OUTPUT for o in wanted):
        wanted.append(OutputRequest(name=LABELS_OUTPUT, classification=request.classification))
    return wanted


def _check(wanted: OutputRequest, declared: Mapping[str, TensorMetadata]) -> None:
    if wanted.name == LABELS_OUTPUT:
        if not wanted.classification or OUTPUT_LOGITS not in declared:
            raise BadRequest(f"output {LABELS_OUTPUT!r} needs parameters.classification (how many labels)")
        return
    spec = declared.get(wanted.name)
    if spec is None:
        known = ", ".join(repr(n) for n in [*declared, LABELS_OUTPUT])
        raise BadRequest(f"no output {wanted.name!r}; the model has {known}")
    if wanted.classification and len(spec.shape) != 2:
        raise BadRequest(f"output {wanted.name!r}: classification needs a [batch, classes] output")


def plan_outputs(request: InferRequest, declared: Sequence[TensorMetadata]) -> tuple[OutputRequest, ...]:
    """The outputs to send, checked against the model's declared outputs before any work is done, with
    `binary` resolved (the output's own flag, else the request's `binary_data_output`)."""
    by_name = {spec.name: spec for spec in declared}
    plan = []
    for wanted in _wanted(request, list(by_name)):
        _check(wanted, by_name)
        binary = request.binary_data_output if wanted.binary is None else wanted.binary
        plan.append(replace(wanted, binary=binary))
    return tuple(plan)


def _render(
    wanted: OutputRequest, outputs: Mapping[str, NDArray[np.float32]], labels: Sequence[str]
) -> Tensor:
    if wanted.name == LABELS_OUTPUT:
        scores = softmax(outputs[OUTPUT_LOGITS])
        return classification(LABELS_OUTPUT, scores, labels, wanted.classification)
    values = outputs[wanted.name]
    if wanted.classification:
        names = labels if wanted.name == OUTPUT_LOGITS else None
        return classification(wanted.name, values, names, wanted.classification)
    return NumericTensor(name=wanted.name, datatype="FP32", array=values)


def render_outputs(
    plan: Sequence[OutputRequest], outputs: Mapping[str, NDArray[np.float32]], labels: Sequence[str]
) -> list[Selected]:
    """The planned outputs from a batch's `outputs` (by name, `logits` among them) and the class labels."""
    return [Selected(tensor=_render(wanted, outputs, labels), binary=bool(wanted.binary)) for wanted in plan]


def encode_response(
    *, model_name: str, model_version: str, request_id: str | None, outputs: Sequence[Selected]
) -> EncodedResponse:
    """The response body: the JSON, then the binary data of the outputs sent as binary, in order."""
    described: list[dict[str, object]] = []
    chunks: list[bytes] = []
    for selected in outputs:
        tensor = selected.tensor
        entry: dict[str, object] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if selected.binary:
            raw = to_binary(tensor)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = to_json(tensor)
        described.append(entry)
    document: dict[str, object] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = described
    header = json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if not chunks:
        return EncodedResponse(body=header, header_length=None)
    return EncodedResponse(body=header + b"".join(chunks), header_length=len(header))
