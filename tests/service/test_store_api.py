"""The HTTP side of a shared result store, one app against Debian's redis-server on loopback: results and
heatmaps come back identical from Redis; with Redis down the GETs answer 503 `store_unavailable` with
Retry-After while POSTs still answer in full, and the failed write is counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.deploy.servers import Redis, redis_server
from tests.service.conftest import metric_samples
from tests.service.decoding.synth import encode_clip


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[Redis]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def post(client: TestClient, clip: bytes, **params: Any) -> Any:
    response = client.post(
        "/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"}, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_redis_store_answers_like_memory_and_survives_an_outage(
    make_settings: Callable[..., Settings], redis: Redis
) -> None:
    clip = encode_clip(width=96, height=64, frames=24)
    settings = make_settings(decoder_workers=1, result_store=redis.url, result_store_timeout_s=0.3)
    with TestClient(create_app(settings, load_in_background=False)) as client:
        body = post(client, clip)
        got = client.get(body["links"]["self"])
        assert got.status_code == 200 and got.json() == body
        assert got.headers["cache-control"] == "no-store"
        grid = client.get(body["links"]["heatmap"])
        frame = client.get(body["links"]["heatmap"], params={"frame": 1})
        assert grid.status_code == frame.status_code == 200
        assert grid.headers["content-type"] == "image/png"

        redis.stop()
        down = client.get(body["links"]["self"])
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == str(settings.retry_after_s)
        assert down.json()["error"] == {
            "code": "store_unavailable",
            "message": "the result store is unavailable; retry later",
            "retryable": True,
        }
        assert client.get(body["links"]["heatmap"]).status_code == 503
        answered = post(client, clip)  # the POST answers in full
        assert answered["labels"] == body["labels"] and len(answered["id"]) == 22
        errors = metric_samples(client.get("/metrics").text, "vtserve_result_store_errors_total")
        assert errors == {'{operation="put"}': 1.0, '{operation="get"}': 2.0}

        redis.start()  # back, empty (no persistence): the id stored before is gone, new ones work
        assert client.get(body["links"]["self"]).status_code == 404
        again = post(client, clip)
        assert client.get(again["links"]["self"]).json() == again


def test_memory_and_redis_render_the_same_heatmaps(
    make_settings: Callable[..., Settings], redis: Redis
) -> None:
    """The same clip through the memory store and through Redis: identical PNG bytes, grid and frame."""
    clip = encode_clip(width=96, height=64, frames=24)
    pngs = []
    for store in ("memory", redis.url):
        settings = make_settings(decoder_workers=1, result_store=store)
        with TestClient(create_app(settings, load_in_background=False)) as client:
            body = post(client, clip)
            link = body["links"]["heatmap"]
            pngs.append((client.get(link).content, client.get(link, params={"frame": 0}).content))
    assert pngs[0] == pngs[1]
