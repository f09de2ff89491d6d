"""The request body cap for every route: answered in the error envelope, and counted.

Starlette's `RequestBodyLimitMiddleware` (FastAPI's `max_body_size`) sits outside the app: when the declared
Content-Length is over the cap it replaces whatever the app answers with a plain-text 413, and requests it
turns away before an endpoint runs never reach the metrics. This middleware sits inside FastAPI's stack
instead: a declared length over the cap is answered at once with the JSON error envelope (and reported
to `on_reject`); a body without a declared length (chunked) is counted while it is read, and going over
raises `PayloadTooLarge` inside the reader, so the endpoint answers and counts it as its own error.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.errors import PayloadTooLarge

Rejected = Callable[[Scope], None]


def declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimit:
    """Pure ASGI middleware: no request body over `max_body_size` bytes reaches the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int,
        on_reject: Rejected | None = None,
        path_caps: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.on_reject = on_reject
        self.path_caps = dict(path_caps or {})  # path prefix -> its own cap (long-video uploads)

    def cap_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        return next(
            (cap for prefix, cap in self.path_caps.items() if path.startswith(prefix)), self.max_body_size
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope)
        declared = declared_length(scope)
        if declared is not None and declared > cap:
            if self.on_reject is not None:
                self.on_reject(scope)
            message = f"the request body exceeds {cap} bytes"
            await error_response(413, PayloadTooLarge.code, message)(scope, receive, send)
            return
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise PayloadTooLarge(f"the request body exceeds {cap} bytes")
            return message

        await self.app(scope, receive_capped, send)
