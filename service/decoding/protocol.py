"""`Decoder`: what the service needs from whatever decodes its uploads (`DecoderPool` in production)."""

from __future__ import annotations

from typing import Protocol

from service.decoding.types import DecodedClip, DecodeRequest


class Decoder(Protocol):
    """Decodes uploads off the event loop, reports its workers for the metrics, and stops on `close`."""

    async def decode(self, data: bytes, request: DecodeRequest) -> DecodedClip:
        """The clip `request` asks for; raises a `VideoDecodeError` subclass for a bad upload."""
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
