"""Where prediction results live between the POST and later GETs: a TTL and a size bound.

`ResultStore` is the interface (so a shared store such as Redis can be added); `MemoryResultStore`
is the in-process default. Ids are `secrets.token_urlsafe(16)`: 22 characters of `[A-Za-z0-9_-]`.
Unknown and expired ids are indistinguishable: `get` returns None for both.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

ID_BYTES = 16
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_result_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def is_valid_id(result_id: str) -> bool:
    return bool(ID_PATTERN.match(result_id))


class ResultStore(Protocol[T]):
    def put(self, value: T) -> str:
        """Store a value under a fresh unguessable id and return the id."""
        ...

    def get(self, result_id: str) -> T | None:
        """The value, or None when the id is unknown or expired."""
        ...

    def __len__(self) -> int: ...


class MemoryResultStore(Generic[T]):
    """In-memory, thread-safe; evicts expired entries, then the oldest beyond `max_items`."""

    def __init__(self, *, ttl_s: float, max_items: int, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0 or max_items < 1:
            raise ValueError("ttl_s must be positive and max_items at least 1")
        self._ttl_s = ttl_s
        self._max_items = max_items
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()  # id -> (expires_at, value)
        self._lock = threading.Lock()

    def put(self, value: T) -> str:
        result_id = new_result_id()
        with self._lock:
            now = self._clock()
            self._evict_expired(now)
            self._items[result_id] = (now + self._ttl_s, value)
            while len(self._items) > self._max_items:
                self._items.popitem(last=False)
        return result_id

    def get(self, result_id: str) -> T | None:
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
