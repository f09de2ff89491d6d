"""Reading the uploaded clip from a request: multipart field `file`, or the raw body.

Limits (see docs/security.md): the app's `BodyLimit` middleware answers 413 from Content-Length before any
byte is read and counts chunked bodies; here the clip itself is capped at `max_bytes`, multipart is
limited to one file and a few small fields, and the client's filename is never used.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request

from service.errors import BadRequest, PayloadTooLarge, UnsupportedContentType

RAW_TYPES = ("application/octet-stream",)
MULTIPART = "multipart/form-data"
MAX_FORM_FIELDS = 4
MAX_FIELD_BYTES = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the few small fields


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def body_limit(max_upload_bytes: int) -> int:
    """The app-level body cap: the clip plus multipart framing."""
    return max_upload_bytes + MULTIPART_OVERHEAD


def _check_declared_length(request: Request, limit: int, message: str) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(message)


async def read_body(request: Request, limit: int, *, what: str = "the upload") -> bytes:
    """The raw body as it streams in; PayloadTooLarge ("{what} exceeds {limit} bytes") as soon as its
    declared length, or what has arrived, passes `limit`."""
    message = f"{what} exceeds {limit} bytes"
    _check_declared_length(request, limit, message)
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > limit:
            raise PayloadTooLarge(message)
    return bytes(buffer)


async def _read_multipart(request: Request, max_bytes: int) -> bytes:
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("multipart upload needs the clip in the file field `file`")
        if upload.size is not None and upload.size > max_bytes:
            raise PayloadTooLarge(f"the upload exceeds {max_bytes} bytes")
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"the upload exceeds {max_bytes} bytes")
        return data
    finally:
        await form.close()


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The clip's bytes; raises BadRequest, PayloadTooLarge or UnsupportedContentType."""
    kind = media_type(request)
    if kind == MULTIPART:
        _check_declared_length(request, body_limit(max_bytes), f"the upload exceeds {max_bytes} bytes")
        data = await _read_multipart(request, max_bytes)
    elif kind.startswith("video/") or kind in RAW_TYPES:
        data = await read_body(request, max_bytes)
    else:
        raise UnsupportedContentType()
    if not data:
        raise BadRequest("the upload is empty")
    return data
