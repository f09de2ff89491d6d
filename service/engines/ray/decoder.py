"""`RayDecoder`: the ingress's `Decoder`. Uploads are decoded by the `decode` deployment, on whichever node
its replicas run; errors come back as the same classes a local `DecoderPool` raises.

A decode call is bounded by twice `decode_timeout_s` (one job's worth of queueing at a busy replica, then
the job itself, which the replica's pool bounds by `decode_timeout_s`): past it, `DecodeTimeout` (504); a
replica or node lost twice in a row, `DecoderCrashed` (503); every replica refusing, `Overloaded` (503).

Timelines stream windows from a worker lent for the whole video; those workers are a small pool of the
ingress's own (`max_timelines` processes, started on the first timeline), not the `decode` deployment.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from service.app import default_decoder
from service.decoding.pool import DecoderPool
from service.decoding.source import Source
from service.decoding.streaming import WindowStream
from service.decoding.types import DecodedClip, DecodeRequest
from service.decoding.windows import WindowRequest
from service.engines.ray.handles import CallFailed, CallLost, CallOverloaded, CallTimeout, DeploymentCaller
from service.engines.ray.replies import DecodeReply, DecoderHealth
from service.engines.ray.telemetry import RECENT_S, EngineMetrics
from service.errors import DecoderCrashed, DecodeTimeout, Overloaded, Undecodable
from service.settings import Settings

log = logging.getLogger(__name__)


class RayDecoder:
    """Decodes through the `decode` deployment; reports its replicas' worker pools as its own."""

    def __init__(self, caller: DeploymentCaller, settings: Settings, engine: EngineMetrics) -> None:
        self._caller = caller
        self._settings = settings
        self._engine = engine
        self.timeout_s = 2 * settings.decode_timeout_s
        self._lock = threading.Lock()
        self._health: dict[str, tuple[DecoderHealth, float]] = {}  # replica id -> (last report, when)
        self._windows: DecoderPool | None = None
        self._closed = False

    async def _call(self, method: str, data: Source, request: DecodeRequest) -> tuple[DecodedClip, ...]:
        payload = data if isinstance(data, bytes) else await asyncio.to_thread(data.read_bytes)
        try:
            reply = await self._caller.call(method, payload, request, timeout_s=self.timeout_s)
        except CallTimeout:
            raise DecodeTimeout(f"no decoder answered within {self.timeout_s:g} s") from None
        except CallLost:
            raise DecoderCrashed("the decoder replica was lost; the request may be retried") from None
        except CallOverloaded:
            raise Overloaded("every decoder replica is busy; retry later") from None
        except CallFailed:
            raise Undecodable() from None
        if not isinstance(reply, DecodeReply):
            raise TypeError(f"the decode deployment answered {type(reply).__name__}")
        self._engine.answered(reply.placement)
        with self._lock:
            self._health[reply.placement.replica_id] = (reply.health, time.monotonic())
        if reply.error is not None:
            raise reply.error
        return reply.clips

    async def decode(self, data: Source, request: DecodeRequest) -> DecodedClip:
        (clip,) = await self._call("decode", data, request)
        return clip

    async def decode_views(self, data: Source, request: DecodeRequest) -> tuple[DecodedClip, ...]:
        return await self._call("decode_views", data, request)

    def open_windows(self, source: Path, request: WindowRequest) -> WindowStream:
        """A worker of the ingress's timeline pool lent to one timeline (blocking; started on first use)."""
        with self._lock:
            if self._closed:
                raise DecoderCrashed("the decoder is closed")
            if self._windows is None:
                workers = self._settings.max_timelines
                self._windows = default_decoder(
                    self._settings.model_copy(update={"decoder_workers": workers})
                )
                log.info("timeline decoder pool started in the ingress (%d workers)", workers)
            pool = self._windows
        return pool.open_windows(source, request)

    @property
    def alive_workers(self) -> int:
        """Workers alive in the decode replicas heard from in the last minute, plus the timeline pool's."""
        now = time.monotonic()
        with self._lock:
            remote = sum(h.alive for h, seen in self._health.values() if now - seen <= RECENT_S)
            local = 0 if self._windows is None else self._windows.alive_workers
        return remote + local

    @property
    def replaced(self) -> int:
        """Workers replaced in every decode replica heard from (each since it started), plus locally."""
        with self._lock:
            remote = sum(h.replaced for h, _ in self._health.values())
            local = 0 if self._windows is None else self._windows.replaced
        return remote + local

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._windows = self._windows, None
        if pool is not None:
            pool.close()
