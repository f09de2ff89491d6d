"""A closed-loop HTTP load generator: `concurrency` clients, each posting clips back to back.

Every client starts at its own offset in the clip list and walks it in order, so the mix is the same
at every concurrency and large clips are not sent by all clients at once. The run stops sending after
`duration_s` (plus a bounded grace period for requests in flight, counted and reported separately) and
never exceeds `max_requests`. Only loopback URLs are accepted. Given a `check`, every 200's body is checked
(`bench.answers.LabelCheck`: the clip's label as vtserve gives it) and the wrong ones counted.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx

from bench.clips import Clip
from bench.stats import summarise

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: (clip name, 200 body) -> whether the answer is right
Check = Callable[[str, bytes], bool]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    clip: str
    status: int  # 0 = transport error / timeout
    latency_s: float
    finished_at: float  # seconds since the run started
    correct: bool | None = None  # the answer's check (None: not checked)


@dataclass(kw_only=True)
class LoadResult:
    concurrency: int
    duration_s: float  # the measured window (first send to the last answer counted)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 200]

    def summary(self) -> dict[str, Any]:
        ok = self.ok
        errors = Counter(str(o.status) for o in self.outcomes if o.status != 200)
        checked = [o for o in ok if o.correct is not None]
        return {
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 2),
            "requests": len(self.outcomes),
            "ok": len(ok),
            "clips_per_s": round(len(ok) / self.duration_s, 3) if self.duration_s > 0 else 0.0,
            "latency": summarise([o.latency_s for o in ok]).as_ms(),
            "errors": dict(sorted(errors.items())),
            "checked": len(checked),
            "wrong_answers": sum(not o.correct for o in checked),
        }


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK:
        raise ValueError(f"load tests only go to the loopback interface, not {host!r}")


async def _post(client: httpx.AsyncClient, url: str, clip: Clip) -> httpx.Response:
    """Multipart upload in field `file`: what both servers accept and what a typical client sends."""
    return await client.post(url, files={"file": (clip.name, clip.data, clip.content_type)})


async def _client(
    url: str,
    clips: Sequence[Clip],
    offset: int,
    deadline: float,
    start: float,
    budget: list[int],
    out: list[Outcome],
    abort: asyncio.Event,
    timeout: httpx.Timeout,
    tls: ssl.SSLContext,
    check: Check | None,
) -> None:
    """One virtual user: its own connection (one client each; httpcore's pool scans every connection
    per request, so one pool shared by 200 users made the load generator, not the server, the
    bottleneck: measured, most of its CPU in `_assign_requests_to_connections`)."""
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, verify=tls) as client:
        await _user(client, url, clips, offset, deadline, start, budget, out, abort, check)


async def _user(
    client: httpx.AsyncClient,
    url: str,
    clips: Sequence[Clip],
    offset: int,
    deadline: float,
    start: float,
    budget: list[int],
    out: list[Outcome],
    abort: asyncio.Event,
    check: Check | None = None,
) -> None:
    i = offset
    while time.perf_counter() < deadline and budget[0] > 0 and not abort.is_set():
        budget[0] -= 1
        clip = clips[i % len(clips)]
        i += 1
        t0 = time.perf_counter()
        correct = None
        try:
            response = await _post(client, url, clip)
            body = await response.aread()
            status = response.status_code
            if check is not None and status == 200:
                correct = check(clip.name, body)
        except httpx.HTTPError:
            status = 0
        t1 = time.perf_counter()
        out.append(
            Outcome(clip=clip.name, status=status, latency_s=t1 - t0, finished_at=t1 - start, correct=correct)
        )


async def drive(
    url: str,
    clips: Sequence[Clip],
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int = 100_000,
    request_timeout_s: float = 120.0,
    grace_s: float = 60.0,
    abort: asyncio.Event | None = None,
    check: Check | None = None,
) -> LoadResult:
    """Post clips to `url` from `concurrency` clients for `duration_s` seconds.

    Throughput counts the answers received until the last client stops (each finishes the request it
    had in flight when the time was up), so a slow server is not flattered by cutting its requests off.
    Setting `abort` makes every client stop after its current request (the server was killed).
    """
    check_loopback(url)
    if concurrency < 1 or duration_s <= 0:
        raise ValueError("concurrency must be >= 1 and duration_s > 0")
    timeout = httpx.Timeout(request_timeout_s, connect=10.0)
    outcomes: list[Outcome] = []
    budget = [max_requests]
    stop = abort if abort is not None else asyncio.Event()
    tls = ssl.create_default_context()  # built once: one per client costs ~10 ms each
    start = time.perf_counter()
    deadline = start + duration_s
    tasks = [
        asyncio.create_task(
            _client(
                url,
                clips,
                (k * len(clips)) // concurrency,
                deadline,
                start,
                budget,
                outcomes,
                stop,
                timeout,
                tls,
                check,
            )
        )
        for k in range(concurrency)
    ]
    done, pending = await asyncio.wait(tasks, timeout=duration_s + grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()
    end = max((o.finished_at for o in outcomes), default=time.perf_counter() - start)
    return LoadResult(concurrency=concurrency, duration_s=max(end, 1e-9), outcomes=outcomes)


async def warm_up(url: str, clips: Sequence[Clip], *, rounds: int = 1, timeout_s: float = 120.0) -> list[int]:
    """Send every clip `rounds` times, one at a time; returns the statuses (not measured)."""
    check_loopback(url)
    statuses = []
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for _ in range(rounds):
            for clip in clips:
                try:
                    response = await _post(client, url, clip)
                    statuses.append(response.status_code)
                except httpx.HTTPError:
                    statuses.append(0)
    return statuses


async def scrape(base_url: str, path: str = "/metrics", timeout_s: float = 10.0) -> str:
    check_loopback(base_url)
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        response = await client.get(base_url.rstrip("/") + path)
        response.raise_for_status()
        return response.text
