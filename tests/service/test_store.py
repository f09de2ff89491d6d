from __future__ import annotations

import pytest

from service.store import MemoryResultStore, is_valid_id, new_result_id

# The memory store's coroutines wrap these synchronous methods; `test_store_backends.py` drives the
# coroutines (and the Redis store) through the same contract.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ids_are_unguessable_fixed_length_url_safe() -> None:
    ids = {new_result_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 and is_valid_id(i) for i in ids)
    assert not is_valid_id("../../etc/passwd") and not is_valid_id("short")


def test_put_get_and_ttl_expiry_looks_like_unknown() -> None:
    clock = Clock()
    store: MemoryResultStore[str] = MemoryResultStore(ttl_s=10, max_items=5, clock=clock)
    rid = store.put_now("a")
    assert store.get_now(rid) == "a"
    clock.now += 9.9
    assert store.get_now(rid) == "a"
    clock.now += 0.2
    assert store.get_now(rid) is None  # expired
    assert store.get_now(new_result_id()) is None  # unknown: the same answer
    assert len(store) == 0


def test_size_bound_evicts_the_oldest() -> None:
    store: MemoryResultStore[int] = MemoryResultStore(ttl_s=100, max_items=3, clock=Clock())
    ids = [store.put_now(i) for i in range(5)]
    assert [store.get_now(i) for i in ids] == [None, None, 2, 3, 4]
    assert len(store) == 3


def test_expired_entries_are_dropped_on_put() -> None:
    clock = Clock()
    store: MemoryResultStore[int] = MemoryResultStore(ttl_s=1, max_items=100, clock=clock)
    for i in range(10):
        store.put_now(i)
    clock.now += 2
    store.put_now(99)
    assert len(store._items) == 1


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        MemoryResultStore(ttl_s=0, max_items=1)
    with pytest.raises(ValueError):
        MemoryResultStore(ttl_s=1, max_items=0)
