"""Where results live between the POST and later GETs: a TTL, unguessable ids, one backend for all kinds.

`settings.result_store` picks the backend: `memory` (the default; this process only, also bounded by
`max_results`) or a Redis URL (`redis://host:port/db`, `rediss://…`, `unix://…`; shared by every replica,
expiry by Redis). `open_backend(settings)` builds it; `backend.open(codec, kind=...)` gives the typed
store of one kind (`prediction`, `timeline`, ...). See `base` for the protocols, `document` for the
stored bytes.
"""

from __future__ import annotations

from service.settings import Settings
from service.store.base import (
    ID_BYTES,
    ID_PATTERN,
    Codec,
    ResultStore,
    StoreBackend,
    is_valid_id,
    new_result_id,
)
from service.store.memory import MemoryBackend, MemoryResultStore

__all__ = [
    "ID_BYTES",
    "ID_PATTERN",
    "Codec",
    "MemoryBackend",
    "MemoryResultStore",
    "ResultStore",
    "StoreBackend",
    "is_valid_id",
    "new_result_id",
    "open_backend",
]


def open_backend(settings: Settings) -> StoreBackend:
    """The backend `settings.result_store` names (the Redis client connects lazily, on first use)."""
    if settings.result_store == "memory":
        return MemoryBackend(ttl_s=settings.result_ttl_s, max_items=settings.max_results)
    from service.store.redis_store import RedisBackend

    return RedisBackend(
        settings.result_store, ttl_s=settings.result_ttl_s, timeout_s=settings.result_store_timeout_s
    )
