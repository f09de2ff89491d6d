"""The result stores' contract, on the memory backend and on a real redis-server (Debian's, on loopback):
the stored bytes round-trip bit for bit, Redis sets the TTL, kinds do not mix, and an outage or a silent
server turns into `StoreUnavailable` within the configured bound (never a hang, never a client exception).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.errors import StoreUnavailable
from service.heatmap import render_frame, render_grid
from service.pipeline import Prediction
from service.schemas import ClipInfo, Timings
from service.settings import Settings
from service.store import MemoryBackend, StoreBackend, new_result_id, open_backend
from service.store.document import Document, pack, unpack
from service.store.prediction_codec import PREDICTION_CODEC
from service.store.redis_store import RedisBackend, redact
from tests.deploy.servers import Redis, redis_server

TIMEOUT_S = 0.3


def sample_prediction(frames: int = 8, size: int = 32, attention: bool = True, seed: int = 0) -> Prediction:
    rng = np.random.default_rng(seed)
    spatial = rng.random((frames, 4, 4), dtype=np.float32)
    temporal = rng.random((frames, frames))
    temporal /= temporal.sum(axis=1, keepdims=True)
    stamps = tuple(float(t) for t in np.linspace(0.0, 1.9, frames) / 3.0)  # floats with long reprs
    return Prediction(
        model="tiny",
        version="1",
        labels=(("moving_left", 0.7123456789), ("static", 0.1 + 0.2)),
        clip=ClipInfo(
            duration_s=2.0,
            fps=29.97,
            width=320,
            height=240,
            rotation=90,
            stream=0,
            frame_indices=tuple(range(0, 3 * frames, 3)),
            timestamps_s=stamps,
        ),
        temporal=temporal if attention else None,
        importance=tuple(float(x) for x in temporal.mean(axis=0)) if attention else None,
        token_timestamps=stamps,
        frames=rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8),
        spatial=spatial / spatial.sum(axis=(1, 2), keepdims=True) if attention else None,
        timings_ms=Timings(decode=12.5, queue=1.25, inference=3.0, total=17.0),
    )


def assert_same(a: Prediction, b: Prediction) -> None:
    for name in ("model", "version", "labels", "clip", "importance", "token_timestamps", "timings_ms"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("frames", "spatial", "temporal"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name


# --- the stored bytes -----------------------------------------------------------------------------------


def test_document_round_trip_is_bit_exact_and_rejects_what_it_cannot_hold() -> None:
    arrays = {
        "u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        "f4": np.array([np.pi, -0.0, 1e-38], dtype=np.float32),
        "f8": np.array([[np.e, 1 / 3]]),
        "empty": np.zeros((0, 3), dtype=np.uint8),
    }
    back = unpack(pack(Document(fields={"x": 0.1 + 0.2, "s": "é"}, arrays=arrays)))
    assert back.fields == {"x": 0.1 + 0.2, "s": "é"}
    for name, array in arrays.items():
        assert back.arrays[name].dtype == array.dtype and back.arrays[name].tobytes() == array.tobytes()
    with pytest.raises(ValueError, match="dtype"):
        pack(Document(fields={}, arrays={"o": np.array([object()])}))
    good = pack(Document(fields={}, arrays=arrays))
    for bad in (b"", b"not zlib", good[:-5]):
        with pytest.raises(ValueError):
            unpack(bad)
    import zlib

    body = zlib.decompress(good)
    for bad_body in (b"XXXX" + body[4:], body + b"\x00", body[:-1]):
        with pytest.raises(ValueError):
            unpack(zlib.compress(bad_body))


@pytest.mark.parametrize("attention", [True, False])
def test_prediction_codec_keeps_everything_a_heatmap_needs(attention: bool) -> None:
    p = sample_prediction(attention=attention)
    data = PREDICTION_CODEC.encode(p)
    back = PREDICTION_CODEC.decode(data)
    assert_same(p, back)
    args = (p.spatial, p.token_timestamps, p.importance)
    back_args = (back.spatial, back.token_timestamps, back.importance)
    assert render_grid(p.frames, *args) == render_grid(back.frames, *back_args)
    assert render_frame(p.frames, *args, 3) == render_frame(back.frames, *back_args, 3)
    raw = p.frames.nbytes + (0 if p.spatial is None else p.spatial.nbytes + p.temporal.nbytes)  # type: ignore[union-attr]
    assert len(data) < raw + 2048  # random frames do not compress; the overhead is the JSON header


def test_real_frames_compress() -> None:
    """Smooth frames (what real video gives) shrink under zlib; random bytes would not."""
    p = sample_prediction(frames=8, size=224)
    y, x = np.mgrid[0:224, 0:224]
    smooth = np.stack([(x + y + 8 * k) % 256 for k in range(8)]).astype(np.uint8)
    frames = np.repeat(smooth[..., None], 3, axis=3)
    from dataclasses import replace

    size = len(PREDICTION_CODEC.encode(replace(p, frames=np.ascontiguousarray(frames))))
    assert size < frames.nbytes / 4, (size, frames.nbytes)


# --- one contract, two backends ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


def backend_for(name: str, redis_url: str | None, ttl_s: float = 60.0) -> StoreBackend:
    if name == "memory":
        return MemoryBackend(ttl_s=ttl_s, max_items=100)
    assert redis_url is not None
    return RedisBackend(redis_url, ttl_s=ttl_s, timeout_s=TIMEOUT_S)


@pytest.fixture(params=["memory", "redis"])
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "redis":
        request.getfixturevalue("redis")
    return name


def test_put_get_unknown_invalid_and_kinds(backend_name: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis").url if backend_name == "redis" else None

    async def scenario() -> None:
        backend = backend_for(backend_name, url)
        predictions = backend.open(PREDICTION_CODEC, kind="prediction")
        other = backend.open(PREDICTION_CODEC, kind="timeline")
        p = sample_prediction()
        rid = await predictions.put(p)
        got = await predictions.get(rid)
        assert got is not None
        assert_same(p, got)
        assert await predictions.get(new_result_id()) is None
        assert await predictions.get("../../etc/passwd") is None
        assert await other.get(rid) is None  # kinds do not mix
        early = new_result_id()  # an id handed out before its result exists (a timeline's)
        assert await predictions.get(early) is None
        await predictions.put_as(early, p)
        assert await predictions.get(early) is not None
        with pytest.raises(ValueError):  # never overwritten
            await predictions.put_as(early, sample_prediction(seed=2))
        with pytest.raises(ValueError):
            await predictions.put_as("../etc/passwd", p)
        assert await backend.ping()
        await backend.close()

    asyncio.run(scenario())


def test_redis_sets_the_ttl_and_expires(redis: Redis) -> None:
    import redis.asyncio as aioredis

    async def scenario() -> None:
        backend = RedisBackend(redis.url, ttl_s=0.4, timeout_s=TIMEOUT_S)
        store = backend.open(PREDICTION_CODEC, kind="prediction")
        rid = await store.put(sample_prediction())
        client = aioredis.Redis.from_url(redis.url)
        ttl_ms = await client.pttl(f"vtserve:prediction:{rid}")
        assert 0 < ttl_ms <= 400
        await asyncio.sleep(0.6)
        assert await store.get(rid) is None
        assert await client.exists(f"vtserve:prediction:{rid}") == 0
        await client.aclose()
        await backend.close()

    asyncio.run(scenario())


def test_redis_outage_is_store_unavailable_within_the_bound_and_recovers(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:

        async def scenario() -> None:
            backend = RedisBackend(server.url, ttl_s=60, timeout_s=TIMEOUT_S)
            store = backend.open(PREDICTION_CODEC, kind="prediction")
            rid = await store.put(sample_prediction())
            server.stop()
            for call in (store.get(rid), store.put(sample_prediction())):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await call
                assert time.monotonic() - started < 2 * TIMEOUT_S + 0.5
            assert not await backend.ping()
            server.start()  # same port, empty (no persistence): the old id is gone, new writes work
            assert await store.get(rid) is None
            rid2 = await store.put(sample_prediction(seed=1))
            assert await store.get(rid2) is not None
            await backend.close()

        asyncio.run(scenario())


def test_a_silent_server_cannot_hang_a_call() -> None:
    """A peer that accepts connections and never answers (a hung Redis): every call ends in time."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"

        async def scenario() -> None:
            backend = RedisBackend(url, ttl_s=60, timeout_s=TIMEOUT_S)
            store = backend.open(PREDICTION_CODEC, kind="prediction")
            for call in (store.get(new_result_id()), store.put(sample_prediction())):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await call
                assert time.monotonic() - started < 2 * TIMEOUT_S + 0.5

        asyncio.run(scenario())


def test_settings_choose_the_backend_and_logs_hide_the_password() -> None:
    assert isinstance(open_backend(Settings(result_store="memory")), MemoryBackend)
    backend = open_backend(Settings(result_store="redis://:s3cret@127.0.0.1:6390/2"))
    assert isinstance(backend, RedisBackend) and "s3cret" not in backend.description
    assert redact("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    for bad in ("http://x", "redis", "memcached://x:1"):
        with pytest.raises(ValueError):
            Settings(result_store=bad)
