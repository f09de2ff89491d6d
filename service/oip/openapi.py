"""The `/v2` operations' OpenAPI entries: error answers in the protocol's shape, and the infer body."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}

_DESCRIPTIONS = {
    400: "a malformed request, or an input whose name, datatype or shape the model does not take",
    401: "a valid API key is required (Authorization: Bearer <key>)",
    404: "no such model or version",
    413: "the request body is too large",
    415: "a compressed body, or a clip that is not a video in an accepted container",
    422: "a clip that cannot be decoded, has no video stream or is too short",
    500: "inference failed",
    503: "overloaded, starting or shutting down; retry after Retry-After seconds",
    504: "decoding or inference timed out",
}

_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string"},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
_OUTPUT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
}

INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An Open Inference Protocol infer request: JSON, or with the binary tensor data "
        "extension the JSON (its length in the `Inference-Header-Content-Length` header) followed by "
        "the inputs' binary data. One input: `video` (UINT8 [B, T, H, W, 3], decoded and sampled "
        "frames) or `clip` (BYTES [B], encoded video files).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {"type": "array", "items": _TENSOR},
                        "outputs": {"type": "array", "items": _OUTPUT},
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

_INFER_OK: dict[str, Any] = {
    "description": "the outputs: JSON, or the JSON followed by binary output data (its length in the "
    "`Inference-Header-Content-Length` header)",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given statuses; errors are `{"error": "<message>"}`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        if status == 200:
            out[status] = _INFER_OK
            continue
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        if status == 503:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[status] = entry
    return out
