"""A shared backend: results in Redis (or Valkey), so any replica answers for any result.

Each result is one key, `vtserve:<kind>:<id>`, holding the codec's bytes, written with `SET … PX <ttl> NX`:
Redis expires it, and NX means a fresh id never overwrites anything. Every call is bounded twice: socket
connect/read timeouts in the client, and an overall `asyncio.timeout` around the call (which also covers
the client's one reconnect attempt). Any failure (refused, reset, timeout, a Redis error reply) becomes
`StoreUnavailable`: the GET routes answer 503 + Retry-After and the POST answers in full regardless.
Encoding and decoding (zlib over the frames) run in a worker thread, never on the event loop.

`redis` is an optional dependency (`pip install 'vtserve[redis]'`), imported only when this backend is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from service.errors import StoreUnavailable
from service.store.base import Codec, T, check_kind, is_valid_id, new_result_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "vtserve"
SCHEMES = ("redis", "rediss", "unix")
R = TypeVar("R")


def redact(url: str) -> str:
    """The URL without its password (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, parts.fragment))


def _client(url: str, timeout_s: float) -> Redis:
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # the optional extra
        raise RuntimeError(
            "result_store is a Redis URL but the redis client is not installed (pip install 'vtserve[redis]')"
        ) from exc
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),  # one reconnect: a pooled connection may be stale after a restart
        health_check_interval=30,
        client_name="vtserve",
        decode_responses=False,
    )


class RedisResultStore(Generic[T]):
    """Values of one kind in Redis under `vtserve:<kind>:<id>`, expiring after `ttl_s`."""

    def __init__(self, client: Redis, codec: Codec[T], *, kind: str, ttl_s: float, timeout_s: float) -> None:
        self._client = client
        self._codec = codec
        self._prefix = f"{KEY_PREFIX}:{check_kind(kind)}:"
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._timeout_s = timeout_s

    def key(self, result_id: str) -> str:
        return self._prefix + result_id

    async def put(self, value: T) -> str:
        data = await asyncio.to_thread(self._codec.encode, value)
        for _attempt in range(3):  # a collision of 128 random bits will not happen; NX makes sure
            result_id = new_result_id()
            stored = await bounded(
                self._client.set(self.key(result_id), data, px=self._ttl_ms, nx=True), self._timeout_s
            )
            if stored:
                return result_id
        raise StoreUnavailable("the result store refused three fresh ids")

    async def put_as(self, result_id: str, value: T) -> None:
        if not is_valid_id(result_id):
            raise ValueError("not a result id")
        data = await asyncio.to_thread(self._codec.encode, value)
        key = self.key(result_id)
        if not await bounded(self._client.set(key, data, px=self._ttl_ms, nx=True), self._timeout_s):
            raise ValueError("a result is already stored under this id")

    async def get(self, result_id: str) -> T | None:
        if not is_valid_id(result_id):
            return None
        data = await bounded(self._client.get(self.key(result_id)), self._timeout_s)
        if data is None:
            return None
        if not isinstance(data, bytes):  # decode_responses=False: never text
            raise TypeError(f"unexpected reply type {type(data).__name__} from the result store")
        return await asyncio.to_thread(self._codec.decode, data)


async def bounded(call: Awaitable[R], timeout_s: float) -> R:
    """Await a Redis call for at most `timeout_s` (plus one reconnect); any failure is `StoreUnavailable`."""
    from redis.exceptions import RedisError

    try:
        async with asyncio.timeout(2 * timeout_s):
            return await call
    except (RedisError, OSError, TimeoutError) as exc:
        raise StoreUnavailable() from exc


class RedisBackend:
    """One client (and connection pool) shared by the stores of every kind."""

    def __init__(self, url: str, *, ttl_s: float, timeout_s: float) -> None:
        self.description = f"redis at {redact(url)}"
        self._client = _client(url, timeout_s)
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    def open(self, codec: Codec[T], *, kind: str) -> RedisResultStore[T]:
        return RedisResultStore(self._client, codec, kind=kind, ttl_s=self._ttl_s, timeout_s=self._timeout_s)

    async def ping(self) -> bool:
        try:
            return bool(await bounded(self._client.ping(), self._timeout_s))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._client.aclose()
