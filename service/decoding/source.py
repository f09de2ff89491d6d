"""Where an upload's bytes come from: in memory, or a spooled file that a worker reads by path.

Uploads that may be large (timelines, and every upload read through `service.api.spool`) are written to a
temporary file of ours while they arrive; decoder workers then open that file themselves, so the bytes are
never pickled across the worker pipe. FFmpeg is handed an :class:`AnonymousFile`: a file object without a
name, so a playlist-like container has nothing to resolve relative paths or URLs against (see the shared
``docs/security.md``; the container allowlist and the empty protocol allowlist still apply).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

#: What a decoder accepts: the upload's bytes, or the path of a spooled upload (a file we created).
Source = bytes | Path


class AnonymousFile:
    """A read-only, seekable view of an open binary file that hides the file's name from FFmpeg."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False


def file_size(file: BinaryIO) -> int:
    """Bytes in an open file (from its descriptor; the position is left alone)."""
    return os.fstat(file.fileno()).st_size


def open_source(source: Source) -> BinaryIO | bytes:
    """The bytes themselves, or the spooled file opened for reading (the caller closes it)."""
    if isinstance(source, bytes):
        return source
    return open(source, "rb")  # closed by the caller, after the container
