"""`Decoder`: what the service needs from whatever decodes its uploads (`DecoderPool` in production)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from service.decoding.source import Source
from service.decoding.streaming import WindowStream
from service.decoding.types import DecodedClip, DecodeRequest
from service.decoding.windows import WindowRequest


class Decoder(Protocol):
    """Decodes uploads off the event loop, reports its workers for the metrics, and stops on `close`."""

    async def decode(self, data: Source, request: DecodeRequest) -> DecodedClip:
        """The clip `request` asks for (from the bytes, or a spooled file's path); raises a
        `VideoDecodeError` subclass for a bad upload."""
        ...

    async def decode_views(self, data: Source, request: DecodeRequest) -> tuple[DecodedClip, ...]:
        """Every clip of `request`'s clip plan (`num_clips` clips × `crops` crops), from one demux pass."""
        ...

    def open_windows(self, source: Path, request: WindowRequest) -> WindowStream:
        """A worker lent to one timeline over a spooled file (blocking: call it from a thread)."""
        ...

    @property
    def alive_workers(self) -> int:
        """Worker processes alive right now."""
        ...

    @property
    def replaced(self) -> int:
        """Workers replaced (after a crash or timeout) since the decoder started."""
        ...

    def close(self) -> None:
        """Stop the workers (idempotent); requests in flight fail."""
        ...
