"""The body cap: a declared length over it is answered at once in the error envelope and reported;
a chunked body is counted while it is read and fails inside the endpoint as `payload_too_large`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import Message, Scope

from service.api.body_limit import BodyLimit
from service.api.errors import install_error_handlers

LIMIT = 100


def _app(rejected: list[str]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_body_size=LIMIT, on_reject=lambda scope: rejected.append(scope["path"]))

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/form")
    async def form(request: Request) -> dict[str, int]:
        async with request.form() as parsed:
            upload = parsed["file"]
            assert not isinstance(upload, str)
            return {"bytes": len(await upload.read())}

    return app


def _call(
    app: FastAPI,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]],
    *,
    path: str = "/echo",
    content_type: bytes = b"application/octet-stream",
) -> tuple[int, Any, int]:
    """Drive the ASGI app directly (a client would not send a false Content-Length); returns
    (status, JSON body, how many body chunks the app pulled)."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", content_type), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pending:
            pulled += 1
            return pending.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), pulled


def test_declared_length_over_the_cap_is_answered_before_reading() -> None:
    rejected: list[str] = []
    status, body, pulled = _call(_app(rejected), [b"x" * 10], [(b"content-length", b"1000000000000")])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert pulled == 0 and rejected == ["/echo"]


def test_chunked_body_over_the_cap_fails_inside_the_endpoint() -> None:
    rejected: list[str] = []
    status, body, pulled = _call(_app(rejected), [b"x" * 60, b"x" * 60, b"x" * 60], [])
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert pulled == 2 and rejected == []  # stopped at the chunk that crossed the cap; the app answered


def test_bodies_within_the_cap_pass() -> None:
    rejected: list[str] = []
    status, body, _ = _call(_app(rejected), [b"x" * 60, b"x" * 40], [(b"content-length", b"100")])
    assert (status, body, rejected) == (200, {"bytes": 100}, [])
    status, body, _ = _call(_app(rejected), [b"x" * 60, b"x" * 40], [])
    assert (status, body) == (200, {"bytes": 100})


def test_chunked_multipart_over_the_cap_fails_while_parsing() -> None:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.mp4"\r\n\r\n'
    parts = [head, b"x" * 60, b"x" * 60, b"\r\n--b--\r\n"]
    kind = b"multipart/form-data; boundary=b"
    status, body, _ = _call(_app([]), parts, [], path="/form", content_type=kind)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    status, body, _ = _call(
        _app([]), [head, b"x" * 20, b"\r\n--b--\r\n"], [], path="/form", content_type=kind
    )
    assert (status, body) == (200, {"bytes": 20})
