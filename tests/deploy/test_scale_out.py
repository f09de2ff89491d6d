"""Two `vtserve serve` replicas sharing Debian's redis-server, behind Debian's nginx (round robin), all
real processes on loopback: any replica answers for any result with the same bytes; a replica SIGKILLed
under load costs at most connection errors or retryable 503s and loses no completed result; Redis down
means 503 + Retry-After on the GETs and full answers on the POSTs.

The tests run in file order on one module-scoped cluster; the outage test restarts Redis, and the SIGKILL
test comes last because it leaves one replica dead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.servers import Redis, Replicas, nginx, redis_server, replicas
from tests.service.conftest import metric_samples
from tests.service.decoding.synth import encode_clip

REPLICA_ENV = {
    "decoder_workers": "1",
    "max_wait_ms": "5",
    "result_store_timeout_s": "0.3",
    "log_level": "warning",
}


@dataclass
class Cluster:
    redis: Redis
    replicas: Replicas
    proxy: str
    folder: Path

    def upstream_log(self) -> list[str]:
        """nginx's access log: `<status> <upstream addresses> <upstream statuses>` per request."""
        return (self.folder / "nginx" / "access.log").read_text().splitlines()


@pytest.fixture(scope="module")
def cluster(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scale-out")
    with (
        redis_server(folder / "redis") as store,
        replicas(tiny_bundle, folder / "replicas", 2, result_store=store.url, **REPLICA_ENV) as group,
        nginx(group.urls, folder / "nginx") as proxy,
    ):
        yield Cluster(store, group, proxy, folder)


@pytest.fixture(scope="module")
def clips() -> list[bytes]:
    clips = [encode_clip(width=64 + 16 * i, height=48 + 8 * i, frames=16 + 4 * i) for i in range(3)]
    big = encode_clip(width=640, height=360, frames=48)  # past nginx's in-memory body buffer: spooled to disk
    assert len(big) > 64 * 1024
    return [*clips, big]


def post(base: str, clip: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"}, timeout=60
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fetch_all(base: str, body: dict[str, Any]) -> tuple[Any, bytes, bytes]:
    with httpx.Client(base_url=base, timeout=30) as client:
        result = client.get(body["links"]["self"])
        grid = client.get(body["links"]["heatmap"])
        frame = client.get(body["links"]["heatmap"], params={"frame": 1})
    for response in (result, grid, frame):
        assert response.status_code == 200, (base, response.text)
    return result.json(), grid.content, frame.content


def served(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(v for k, v in metric_samples(text, "vtserve_requests_total").items() if 'status="200"' in k)


def test_every_result_posted_through_one_is_fetched_through_the_other(
    cluster: Cluster, clips: list[bytes]
) -> None:
    a, b = cluster.replicas.urls
    for poster, other in ((a, b), (b, a)):
        for clip in clips:
            body = post(poster, clip)
            here, there = fetch_all(poster, body), fetch_all(other, body)
            assert here == there  # body, grid PNG and frame PNG: byte for byte
            assert there[0] == body
    before = [served(u) for u in (a, b)]
    bodies = [post(cluster.proxy, clip) for clip in clips * 2]
    after = [served(u) for u in (a, b)]
    assert all(x > y for x, y in zip(after, before, strict=True)), "nginx did not use both replicas"
    for body in bodies:
        assert fetch_all(a, body) == fetch_all(b, body) == fetch_all(cluster.proxy, body)


def test_redis_down_gets_503_with_retry_after_and_posts_still_answer(
    cluster: Cluster, clips: list[bytes]
) -> None:
    kept = post(cluster.proxy, clips[0])
    cluster.redis.stop()
    try:
        for _ in range(4):  # both replicas (round robin), result and heatmap
            for link in (kept["links"]["self"], kept["links"]["heatmap"]):
                response = httpx.get(cluster.proxy + link, timeout=10)
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "1"
                assert response.json()["error"]["code"] == "store_unavailable"
                assert response.json()["error"]["retryable"] is True
        started = time.monotonic()
        answers = [post(cluster.proxy, clip) for clip in clips]
        assert all(len(a["id"]) == 22 and a["labels"] for a in answers)
        assert (time.monotonic() - started) / len(clips) < 5.0
        failed_puts = sum(
            metric_samples(httpx.get(f"{u}/metrics").text, "vtserve_result_store_errors_total").get(
                '{operation="put"}', 0.0
            )
            for u in cluster.replicas.urls
        )
        assert failed_puts >= len(clips)
    finally:
        cluster.redis.start()
    body = post(cluster.proxy, clips[1])
    assert fetch_all(cluster.replicas.urls[0], body) == fetch_all(cluster.replicas.urls[1], body)


def _descendants(pid: int) -> list[int]:
    """Pids whose parent chain leads to `pid` (its decoder workers and fork server), read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


async def _load(proxy: str, clips: list[bytes], requests: int, kill: asyncio.Event) -> list[Any]:
    """`requests` POSTs from 6 concurrent clients; sets `kill` after the 8th answer."""
    outcomes: list[Any] = []
    queue = list(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            try:
                response = await http.post(
                    "/v1/predictions", content=clips[i % len(clips)], headers={"Content-Type": "video/mp4"}
                )
                outcomes.append(response)
            except httpx.TransportError as exc:
                outcomes.append(exc)
            if len(outcomes) == 8:
                kill.set()

    async with httpx.AsyncClient(base_url=proxy, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(6)))
    return outcomes


def test_a_replica_sigkilled_under_load_loses_no_completed_result(
    cluster: Cluster, clips: list[bytes]
) -> None:
    victim = cluster.replicas.procs[1]
    survivor = cluster.replicas.urls[0]
    children = _descendants(victim.pid)
    assert children, "the replica's decoder fork server and worker were not found"
    logged = len(cluster.upstream_log())

    async def scenario() -> list[Any]:
        kill = asyncio.Event()
        load = asyncio.create_task(_load(cluster.proxy, clips, 40, kill))
        await kill.wait()
        victim.send_signal(signal.SIGKILL)
        return await load

    outcomes = asyncio.run(scenario())
    assert victim.wait(10) == -signal.SIGKILL
    ok = [o for o in outcomes if isinstance(o, httpx.Response) and o.status_code == 200]
    for o in outcomes:
        if isinstance(o, httpx.Response) and o.status_code != 200:
            # 502: nginx's report of a connection the replica dropped (after its one retry elsewhere)
            assert o.status_code in (502, 503), o.text
            if o.status_code == 503:
                assert o.json()["error"]["retryable"] and "retry-after" in o.headers
    assert len(ok) >= 30, [getattr(o, "status_code", repr(o)) for o in outcomes]
    victim_addr = cluster.replicas.urls[1].removeprefix("http://")
    retried = [line for line in cluster.upstream_log()[logged:] if f"{victim_addr}, " in line]
    assert retried, "no request was moved off the killed replica: the kill did not happen under load"
    for response in ok:  # every completed result, whichever replica computed it, from the survivor
        body = response.json()
        assert fetch_all(survivor, body)[0] == body
    deadline = time.monotonic() + 15  # the dead replica's decoder workers and fork server follow it
    while (left := [p for p in children if Path(f"/proc/{p}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the killed replica outlived it: {left}"
