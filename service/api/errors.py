"""Domain errors → HTTP, in one place. Every error body is `{"error": {"code", "message", "retryable"}}`.

A 500 never carries internals: unexpected exceptions are logged and answered with a fixed message.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import ServiceError
from service.schemas import ErrorResponse

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "model_not_found": 404,
    "result_not_found": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "clip_too_large": 413,
    "clip_too_long": 413,
    "unsupported_media": 415,
    "unsupported_content_type": 415,
    "invalid_request": 422,
    "too_many_windows": 422,
    "no_video_stream": 422,
    "undecodable": 422,
    "clip_too_short": 422,
    "internal_error": 500,
    "inference_failed": 500,
    "overloaded": 503,
    "not_ready": 503,
    "decoder_crashed": 503,
    "store_unavailable": 503,
    "decode_timeout": 504,
    "inference_timeout": 504,
}

CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_content_type",
    422: "invalid_request",
    503: "not_ready",
}

INTERNAL_MESSAGE = "internal error"


def status_for(error: ServiceError) -> int:
    return STATUS_BY_CODE.get(error.code, 500)


def error_body(code: str, message: str, retryable: bool = False) -> dict[str, Any]:
    return ErrorResponse.model_validate(
        {"error": {"code": code, "message": message, "retryable": retryable}}
    ).model_dump()


def error_response(
    status: int, code: str, message: str, *, retryable: bool = False, retry_after_s: int = 1
) -> JSONResponse:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = str(retry_after_s)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vtserve"'
    return JSONResponse(error_body(code, message, retryable), status_code=status, headers=headers)


def response_for(error: ServiceError, retry_after_s: int = 1) -> JSONResponse:
    status = status_for(error)
    message = error.message if status < 500 or error.retryable else INTERNAL_MESSAGE
    return error_response(status, error.code, message, retryable=error.retryable, retry_after_s=retry_after_s)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI, retry_after_s: int = 1) -> None:
    async def on_service_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        status = status_for(exc)
        if status >= 500:  # 503s (probes while starting, overload) would flood the log at warning level
            log.log(
                logging.DEBUG if status == 503 else logging.WARNING,
                "request failed: %s (%s)",
                exc.code,
                exc.message,
            )
        return response_for(exc, retry_after_s)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _validation_message(exc))

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = CODE_BY_STATUS.get(status, "internal_error" if status >= 500 else "bad_request")
        message = str(exc.detail) if status < 500 and exc.detail else INTERNAL_MESSAGE
        response = error_response(status, code, message, retry_after_s=retry_after_s)
        for name, value in (exc.headers or {}).items():
            response.headers.setdefault(name, value)
        return response

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", INTERNAL_MESSAGE)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def error_responses(
    *statuses: int, examples: dict[int, tuple[str, str]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses, with examples (`examples` overrides)."""
    defaults = {
        400: ("bad_request", "the request is malformed"),
        401: ("unauthorized", "a valid API key is required (Authorization: Bearer <key>)"),
        404: ("result_not_found", "no such prediction (unknown or expired)"),
        413: ("payload_too_large", "the upload is too large"),
        415: ("unsupported_media", "unsupported media: the upload is not a video in an accepted container"),
        422: ("no_video_stream", "the upload contains no video stream"),
        500: ("internal_error", INTERNAL_MESSAGE),
        503: ("overloaded", "the server is overloaded; retry later"),
        504: ("decode_timeout", "decoding timed out"),
    }
    chosen = {**defaults, **(examples or {})}
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        code, message = chosen[status]
        entry: dict[str, Any] = {
            "model": ErrorResponse,
            "content": {
                "application/json": {
                    "example": {"error": {"code": code, "message": message, "retryable": status >= 503}}
                }
            },
        }
        if status == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[status] = entry
    return out
