"""Errors in the protocol's shape: `{"error": "<message>"}`, with the status the domain error maps to.

`/v1` answers errors in its own envelope through the app's exception handlers. The `/v2` routes use
`OipRoute`, which answers every error raised while a route runs, its dependencies included (the API key),
in the protocol's shape instead: the same statuses and messages, `Retry-After` on 503,
`WWW-Authenticate` on 401, and never internals on a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.deps import get_state
from service.api.errors import INTERNAL_MESSAGE, status_for
from service.errors import ServiceError

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_response(status: int, message: str, *, retry_after_s: int = 1) -> JSONResponse:
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = str(retry_after_s)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vtserve"'
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def response_for(exc: Exception, retry_after_s: int = 1) -> JSONResponse:
    """The protocol's answer to an exception raised while serving a `/v2` request."""
    if isinstance(exc, ServiceError):
        status = status_for(exc)
        message = exc.message if status < 500 or exc.retryable else INTERNAL_MESSAGE
        if status >= 500 and status != 503:
            log.warning("request failed: %s (%s)", exc.code, exc.message)
        return error_response(status, message, retry_after_s=retry_after_s)
    if isinstance(exc, RequestValidationError):
        return error_response(
            400, "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:3])
        )
    if isinstance(exc, StarletteHTTPException) and exc.status_code < 500:
        return error_response(exc.status_code, str(exc.detail))
    log.error("unhandled error", exc_info=exc)
    return error_response(500, INTERNAL_MESSAGE)


class OipRoute(APIRoute):
    """An `APIRoute` whose errors are answered in the protocol's shape (see the module docstring)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return response_for(exc, get_state(request).settings.retry_after_s)

        return route
