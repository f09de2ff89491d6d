"""Parsing an infer request: the JSON header, and the binary tensor data extension.

With the extension, the header `Inference-Header-Content-Length: N` says the first N bytes of the body
are the JSON request; the rest is the binary data of the inputs that declare
`parameters.binary_data_size`, concatenated in the order of those inputs. Without it, the body is the
JSON request alone. Parameters this server does not know are ignored, as the protocol allows; shared
memory is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr, ValidationError

from service.errors import BadRequest
from service.oip.tensors import DATATYPES, Tensor, from_binary, from_json

MAX_DIMS = 16
MAX_NAME = 256
_SHARED_MEMORY = "shared_memory_region"

Parameters = dict[str, JsonValue]
Dim = Annotated[StrictInt, Field(ge=0)]


class _Header(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestInput(_Header):
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]
    shape: Annotated[list[Dim], Field(max_length=MAX_DIMS)]
    datatype: StrictStr
    parameters: Parameters = Field(default_factory=dict)
    data: object = None  # validated by `tensors.from_json`, not element by element here


class RequestOutput(_Header):
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]
    parameters: Parameters = Field(default_factory=dict)


class RequestHeader(_Header):
    id: Annotated[StrictStr, Field(max_length=MAX_NAME)] | None = None
    parameters: Parameters = Field(default_factory=dict)
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=64)]
    outputs: Annotated[list[RequestOutput], Field(max_length=64)] | None = None


@dataclass(frozen=True, kw_only=True)
class OutputRequest:
    """One requested output. `binary` None = the request's `binary_data_output`; `classification` 0 = off."""

    name: str
    binary: bool | None = None
    classification: int = 0


@dataclass(frozen=True, kw_only=True)
class InferRequest:
    id: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[OutputRequest, ...] | None  # None: every output of the model
    binary_data_output: bool = False
    classification: int = 0  # request-level: add top-k `labels` (0 = off)


def _flag(parameters: Mapping[str, JsonValue], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise BadRequest(f"{where}: parameter {key!r} must be true or false")


def _count(parameters: Mapping[str, JsonValue], key: str, where: str) -> int | None:
    value = parameters.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{where}: parameter {key!r} must be a non-negative integer")
    return value


def _refuse_shared_memory(parameters: Mapping[str, JsonValue], where: str) -> None:
    if _SHARED_MEMORY in parameters:
        raise BadRequest(f"{where}: shared memory is not supported; send the data in the request")


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """(JSON header, binary data) from the body and the `Inference-Header-Content-Length` value."""
    if header_length is None:
        return body, memoryview(b"")
    value = header_length.strip()
    if not value.isdigit() or not 0 < int(value) <= len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length must be an integer in [1, {len(body)}] (the body's length)"
        )
    size = int(value)
    return body[:size], memoryview(body)[size:]


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "request"
        parts.append(f"{where}: {err['msg']}")
    return "invalid infer request: " + "; ".join(parts)


def parse_header(text: bytes) -> RequestHeader:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("the infer request is not valid JSON") from None
    try:
        return RequestHeader.model_validate(document)
    except ValidationError as exc:
        raise BadRequest(_validation_message(exc)) from None


def _input_tensor(spec: RequestInput, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    """The tensor of one input and the offset of the next input's binary data."""
    where = f"input {spec.name!r}"
    _refuse_shared_memory(spec.parameters, where)
    if spec.datatype not in DATATYPES:
        raise BadRequest(
            f"{where}: unsupported datatype {spec.datatype!r}; supported: {', '.join(DATATYPES)}"
        )
    shape = tuple(spec.shape)
    size = _count(spec.parameters, "binary_data_size", where)
    if size is None:
        if spec.data is None:
            raise BadRequest(f"{where}: no data (neither `data` nor `parameters.binary_data_size`)")
        return from_json(spec.name, spec.datatype, shape, spec.data), offset
    if spec.data is not None:
        raise BadRequest(f"{where}: both `data` and `parameters.binary_data_size`")
    if offset + size > len(binary):
        raise BadRequest(f"{where}: binary_data_size {size} runs past the {len(binary)} bytes of binary data")
    return from_binary(spec.name, spec.datatype, shape, binary[offset : offset + size]), offset + size


def _output_request(spec: RequestOutput) -> OutputRequest:
    where = f"output {spec.name!r}"
    _refuse_shared_memory(spec.parameters, where)
    return OutputRequest(
        name=spec.name,
        binary=_flag(spec.parameters, "binary_data", where),
        classification=_count(spec.parameters, "classification", where) or 0,
    )


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """The request in `body`; `header_length` is the `Inference-Header-Content-Length` header, if sent."""
    text, binary = split_body(body, header_length)
    header = parse_header(text)
    names = [spec.name for spec in header.inputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"inputs named more than once: {sorted({n for n in names if names.count(n) > 1})}")
    inputs: list[Tensor] = []
    offset = 0
    for spec in header.inputs:
        tensor, offset = _input_tensor(spec, binary, offset)
        inputs.append(tensor)
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data belong to no input")
    outputs = tuple(_output_request(o) for o in header.outputs) if header.outputs else None
    if outputs is not None and len({o.name for o in outputs}) != len(outputs):
        raise BadRequest("outputs named more than once")
    return InferRequest(
        id=header.id,
        inputs=tuple(inputs),
        outputs=outputs,
        binary_data_output=_flag(header.parameters, "binary_data_output", "request") or False,
        classification=_count(header.parameters, "classification", "request") or 0,
    )
