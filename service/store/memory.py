"""The default backend: results in this process's memory, bounded by a TTL and a count. Values are kept as
objects (no codec); only the replica that computed a result can answer for it."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic

from service.store.base import Codec, T, check_kind, is_valid_id, new_result_id


class MemoryResultStore(Generic[T]):
    """In-memory, thread-safe; evicts expired entries, then the oldest beyond `max_items`.

    `put`/`get` are coroutines for the `ResultStore` protocol; they hold a lock for microseconds and never
    wait, so they run on the event loop directly.
    """

    def __init__(self, *, ttl_s: float, max_items: int, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0 or max_items < 1:
            raise ValueError("ttl_s must be positive and max_items at least 1")
        self._ttl_s = ttl_s
        self._max_items = max_items
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()  # id -> (expires_at, value)
        self._lock = threading.Lock()

    async def put(self, value: T) -> str:
        return self.put_now(value)

    async def get(self, result_id: str) -> T | None:
        return self.get_now(result_id)

    async def put_as(self, result_id: str, value: T) -> None:
        if not is_valid_id(result_id):
            raise ValueError("not a result id")
        self.put_now(value, result_id)

    def put_now(self, value: T, result_id: str | None = None) -> str:
        result_id = result_id or new_result_id()
        with self._lock:
            if result_id in self._items:
                raise ValueError("a result is already stored under this id")
            now = self._clock()
            self._evict_expired(now)
            self._items[result_id] = (now + self._ttl_s, value)
            while len(self._items) > self._max_items:
                self._items.popitem(last=False)
        return result_id

    def get_now(self, result_id: str) -> T | None:
        if not is_valid_id(result_id):
            return None
        with self._lock:
            entry = self._items.get(result_id)
            if entry is None:
                return None
            expires_at, value = entry
            if self._clock() >= expires_at:
                del self._items[result_id]
                return None
            return value

    def __len__(self) -> int:
        with self._lock:
            self._evict_expired(self._clock())
            return len(self._items)

    def _evict_expired(self, now: float) -> None:
        # Insertion order equals expiry order (one TTL for all), so expired entries are at the front.
        while self._items:
            first_id, (expires_at, _value) = next(iter(self._items.items()))
            if expires_at > now:
                break
            del self._items[first_id]


class MemoryBackend:
    """One `MemoryResultStore` per kind, each with the same TTL and count bound."""

    description = "memory (this process only)"

    def __init__(self, *, ttl_s: float, max_items: int) -> None:
        self._ttl_s = ttl_s
        self._max_items = max_items

    def open(self, codec: Codec[T], *, kind: str) -> MemoryResultStore[T]:
        check_kind(kind)
        return MemoryResultStore[T](ttl_s=self._ttl_s, max_items=self._max_items)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
