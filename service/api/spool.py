"""Uploads spooled to a temporary file as they arrive, for decoders that read them by path.

A long video is never held in the server's memory: the raw body, or the multipart field `file`, is written
chunk by chunk to a file of ours (`tempfile.mkstemp` in `settings.spool_dir`, mode 0600, a name we chose:
never the client's filename), its size counted as it goes (`PayloadTooLarge` the moment it passes the cap,
besides the Content-Length check before any byte is read). Decoder workers open the file themselves, so
the bytes never cross the worker pipe either. Whoever holds a `Spool` removes it when its job ends
(`Spool.remove`, idempotent); on any failure while receiving, the file is removed before the error
propagates.

Multipart bodies are parsed with python-multipart's streaming parser: one file part named `file`, at most
a few small other fields (the limits of `service.api.upload`), everything else refused with 400.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from service.api.upload import MAX_FIELD_BYTES, MAX_FORM_FIELDS, MULTIPART, RAW_TYPES, body_limit, media_type
from service.errors import BadRequest, PayloadTooLarge, UnsupportedContentType


class Spool:
    """One upload's temporary file: written while the upload arrives, read by a decoder, then removed."""

    def __init__(self, directory: Path | None, max_bytes: int) -> None:
        fd, name = tempfile.mkstemp(prefix="vtserve-upload-", suffix=".video", dir=directory)
        self.path = Path(name)
        self.size = 0
        self.max_bytes = max_bytes
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the upload exceeds {self.max_bytes} bytes")
        self._file.write(chunk)

    def finish(self) -> None:
        """Flush and close the file for writing (it stays on disk for the decoder)."""
        self._file.close()

    def remove(self) -> None:
        """Delete the file (idempotent; safe while a worker still has it open)."""
        self._file.close()
        self.path.unlink(missing_ok=True)


class _Parts:
    """python-multipart callbacks: the `file` part goes to the spool; other fields are counted and capped."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.parts = 0
        self.files = 0
        self.field_bytes = 0
        self.in_file = False
        self.header = b""
        self.value = b""
        self.disposition = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.in_file, self.field_bytes, self.disposition = False, 0, b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        if self.header.lower() == b"content-disposition":
            self.disposition = self.value
        self.header = self.value = b""

    def on_headers_finished(self) -> None:
        self.parts += 1
        if self.parts > MAX_FORM_FIELDS + 1:
            raise BadRequest(f"too many form fields (at most {MAX_FORM_FIELDS} besides `file`)")
        _, options = parse_options_header(self.disposition)
        if options.get(b"name") == b"file":
            self.files += 1
            if self.files > 1:
                raise BadRequest("send exactly one file, in the field `file`")
            self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.spool.write(data[start:end])
            return
        self.field_bytes += end - start
        if self.field_bytes > MAX_FIELD_BYTES:
            raise BadRequest(f"a form field is larger than {MAX_FIELD_BYTES} bytes")


async def _receive_multipart(request: Request, spool: Spool) -> None:
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("the multipart body has no boundary")
    parts = _Parts(spool)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest("the multipart body is malformed") from exc
    if parts.files == 0:
        raise BadRequest("multipart upload needs the clip in the file field `file`")


async def _receive_raw(request: Request, spool: Spool) -> None:
    async for chunk in request.stream():
        spool.write(chunk)


def _check_declared_length(request: Request, limit: int, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the upload exceeds {max_bytes} bytes")


async def spool_upload(request: Request, max_bytes: int, directory: Path | None = None) -> Spool:
    """The request's clip in a fresh spool file (raw body, or multipart field `file`).

    Raises `BadRequest`, `PayloadTooLarge` or `UnsupportedContentType`, having removed the file.
    """
    kind = media_type(request)
    if kind == MULTIPART:
        _check_declared_length(request, body_limit(max_bytes), max_bytes)
    elif kind.startswith("video/") or kind in RAW_TYPES:
        _check_declared_length(request, max_bytes, max_bytes)
    else:
        raise UnsupportedContentType()
    spool = Spool(directory, max_bytes)
    try:
        await (_receive_multipart(request, spool) if kind == MULTIPART else _receive_raw(request, spool))
        spool.finish()
        if spool.size == 0:
            raise BadRequest("the upload is empty")
    except BaseException:
        spool.remove()
        raise
    return spool
