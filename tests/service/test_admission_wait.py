"""Waiting for a slot (`Admission.acquire_within`): in order while the line is short, newest first when it
is long, bounded in time and in length, and every slot accounted for whatever the waiter does (served,
timed out, cancelled, handed a slot as it gave up).

The last test runs it over real HTTP: a request past the limit waits with its body unread and is served
when the slot comes back, or answered 503 when its wait ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.admission import Admission
from service.app import create_app
from service.errors import Overloaded
from service.settings import Settings
from tests.service.conftest import serve_in_thread


def _serve_in_turn(limit: int, waiters: int) -> list[int]:
    """The order in which `waiters` queued one after another are served once the `limit` held come back."""

    async def scenario() -> list[int]:
        admission = Admission(limit, max_waiting=waiters)
        held = [admission.acquire("m") for _ in range(limit)]
        served: list[int] = []

        async def wait(name: int) -> None:
            slot = await admission.acquire_within("m", 5.0)
            served.append(name)
            await asyncio.sleep(0.01)
            slot.release()

        tasks = []
        for name in range(waiters):
            tasks.append(asyncio.create_task(wait(name)))
            await asyncio.sleep(0.005)  # queued in this order
        assert admission.waiting("m") == waiters
        held[0].release()  # one at a time: each served waiter gives its slot back in turn
        await asyncio.gather(*tasks)
        for slot in held[1:]:
            slot.release()
        assert admission.count("m") == 0 and admission.waiting("m") == 0
        return served

    return asyncio.run(scenario())


def test_a_line_no_longer_than_the_limit_is_served_in_order() -> None:
    assert _serve_in_turn(limit=3, waiters=3) == [0, 1, 2]


def test_a_longer_line_is_served_newest_first_until_it_is_short() -> None:
    # limit 2: 5 waiting -> the newest (4), 4 waiting -> 3, 3 waiting -> 2; then 2 waiting: in order, 0, 1
    assert _serve_in_turn(limit=2, waiters=5) == [4, 3, 2, 0, 1]


def test_a_waiter_is_refused_when_its_wait_ends_and_leaves_the_line() -> None:
    async def scenario() -> float:
        admission = Admission(1, max_waiting=4)
        admission.acquire("m")
        start = time.perf_counter()
        with pytest.raises(Overloaded):
            await admission.acquire_within("m", 0.1)
        assert admission.waiting("m") == 0 and admission.count("m") == 1
        return time.perf_counter() - start

    assert 0.09 <= asyncio.run(scenario()) < 1.0


def test_no_wait_or_a_full_line_is_refused_at_once() -> None:
    async def scenario() -> None:
        admission = Admission(1, max_waiting=1)
        admission.acquire("m")
        start = time.perf_counter()
        with pytest.raises(Overloaded):
            await admission.acquire_within("m", 0.0)
        waiter = asyncio.create_task(admission.acquire_within("m", 5.0))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):  # the line holds one
            await admission.acquire_within("m", 5.0)
        assert time.perf_counter() - start < 0.5
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert admission.waiting("m") == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_passes_the_slot_on() -> None:
    async def scenario() -> None:
        admission = Admission(1, max_waiting=4)
        held = admission.acquire("m")
        patient = asyncio.create_task(admission.acquire_within("m", 5.0))
        await asyncio.sleep(0.01)
        gone = asyncio.create_task(admission.acquire_within("m", 5.0))
        await asyncio.sleep(0.01)
        held.release()  # handed to `gone` (the newest), whose request goes away before it runs
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        slot = await asyncio.wait_for(patient, 1.0)
        assert admission.count("m") == 1
        slot.release()
        assert admission.count("m") == 0 and admission.waiting("m") == 0

    asyncio.run(scenario())


def test_slots_given_back_from_other_threads_reach_the_waiters() -> None:
    async def scenario() -> None:
        admission = Admission(2, max_waiting=64)
        releases = [admission.acquire("m"), admission.acquire("m")]
        waiters = [asyncio.create_task(admission.acquire_within("m", 5.0)) for _ in range(20)]
        await asyncio.sleep(0.01)

        def run_and_release(slot: object) -> None:
            time.sleep(0.001)
            slot.release()  # type: ignore[attr-defined]

        for slot in releases:
            threading.Thread(target=run_and_release, args=(slot,)).start()
        for task in asyncio.as_completed(waiters):
            slot = await asyncio.wait_for(task, 5.0)
            assert admission.count("m") <= 2
            await asyncio.to_thread(run_and_release, slot)
        assert admission.count("m") == 0 and admission.waiting("m") == 0

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def waiting_server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=1,
        max_in_flight=1,
        admission_wait_ms=400.0,
        max_wait_ms=5.0,
    )
    app = create_app(settings)
    with serve_in_thread(app) as url:
        yield url


def test_over_http_a_request_past_the_limit_waits_then_is_served_or_refused(
    waiting_server: str, media: Callable[[str], Path]
) -> None:
    clip = media("nasa_13013.mp4").read_bytes()
    headers = {"Content-Type": "video/mp4"}

    def post() -> httpx.Response:
        return httpx.post(f"{waiting_server}/v1/predictions", content=clip, headers=headers, timeout=30)

    def burst(n: int) -> list[httpx.Response]:
        """`n` uploads at once, each from its own thread."""
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: post(), range(n)))

    assert post().status_code == 200  # warm
    answers = burst(3)  # one runs, two wait: each clip takes far less than 400 ms here
    assert [a.status_code for a in answers] == [200, 200, 200]
    start = time.perf_counter()
    answers = burst(120)  # more wait than 400 ms of serving can take (here ~10 are)
    statuses = sorted({a.status_code for a in answers})
    refused = [a for a in answers if a.status_code == 503]
    assert statuses == [200, 503] and time.perf_counter() - start < 20
    assert all(a.headers["Retry-After"] == "1" for a in refused)
    assert refused[0].json()["error"]["code"] == "overloaded"
    metrics = httpx.get(f"{waiting_server}/metrics").text
    assert 'vtserve_admission_waiting{model="tiny"} 0.0' in metrics  # the line is empty again
    assert 'vtserve_stage_duration_seconds_count{model="tiny",stage="admission"}' in metrics
