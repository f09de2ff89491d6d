"""What every result store shares: unguessable ids, the store and backend protocols, and the codec that
turns a stored value into bytes for stores outside the process.

Ids are `secrets.token_urlsafe(16)`: 22 characters of `[A-Za-z0-9_-]` (128 random bits). Unknown and
expired ids are indistinguishable: `get` returns None for both. A store that cannot answer (unreachable,
too slow) raises `StoreUnavailable` (503 + Retry-After), never a bare client exception.
"""

from __future__ import annotations

import re
import secrets
from typing import Protocol, TypeVar

T = TypeVar("T")

ID_BYTES = 16
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def new_result_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def is_valid_id(result_id: str) -> bool:
    return bool(ID_PATTERN.match(result_id))


def check_kind(kind: str) -> str:
    """A kind names what a store keeps (`prediction`, `timeline`); it becomes part of the key."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"store kind must match {KIND_PATTERN.pattern}, got {kind!r}")
    return kind


class Codec(Protocol[T]):
    """Bytes for one stored value and back. `decode(encode(v))` must equal `v` exactly (bit for bit in
    its arrays), so that every replica renders the same heatmap PNG from it."""

    def encode(self, value: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


class ResultStore(Protocol[T]):
    """Results of one kind, each under a fresh id, kept for the store's TTL. Never blocks the event loop."""

    async def put(self, value: T) -> str:
        """Store a value under a fresh unguessable id and return the id (`StoreUnavailable` on outage)."""
        ...

    async def get(self, result_id: str) -> T | None:
        """The value, or None when the id is unknown or expired (`StoreUnavailable` on outage)."""
        ...

    async def put_as(self, result_id: str, value: T) -> None:
        """Store a value under an id made earlier by `new_result_id` (a timeline hands its id out before
        its result exists); never overwrites a value already stored under it."""
        ...


class StoreBackend(Protocol):
    """Where the stores of every kind live (this process, or a shared Redis); opens one store per kind."""

    @property
    def description(self) -> str:
        """For logs: the backend and its address, with any password left out."""
        ...

    def open(self, codec: Codec[T], *, kind: str) -> ResultStore[T]:
        """The store for values of `kind` (`codec` turns them into bytes where the backend needs bytes)."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers now (bounded in time; never raises)."""
        ...

    async def close(self) -> None: ...
