"""Scale-out figures for the README, on real servers on loopback (the same helpers as the scale-out tests):

1. bytes per stored result in Redis (`STRLEN`) after POSTing every real clip, for the served model, and for a
   TimeSformer-Base-sized result (8 real frames at 224², 14×14 maps) encoded by the same codec;
2. GET latency of a stored result and of its heatmap, from a replica with the memory store and from one
   with Redis (one client, sequential);
3. POST throughput through nginx to 1 replica and to 2 replicas sharing Redis (closed loop, real clips).

    python -m tests.deploy.bench_scale_out [--seconds 20] [--clients 8] [--out bench/results/scale_out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.bundles import prepare
from bench.clips import Clip, real_clips
from bench.loadgen import drive
from bench.stats import summarise
from service.store.prediction_codec import PREDICTION_CODEC
from tests.deploy.servers import nginx, redis_server, replicas


def stored_sizes(redis_url: str, base_url: str, clips: list[Clip]) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    sizes, bodies = [], []
    for clip in clips:
        response = httpx.post(
            f"{base_url}/v1/predictions", files={"file": (clip.name, clip.data)}, timeout=60
        )
        response.raise_for_status()
        sizes.append(int(client.strlen(f"vtserve:prediction:{response.json()['id']}")))
        bodies.append(len(response.content))
    return {"clips": len(clips), "stored_bytes": _spread(sizes), "json_answer_bytes": _spread(bodies)}


def base_sized_result(clip: Path) -> Any:
    """The codec on 8 real frames of `clip` resized to 224² with 14×14 maps (a TimeSformer-Base result)."""
    import av
    from PIL import Image

    from service.pipeline import Prediction
    from service.schemas import ClipInfo, Timings

    with av.open(str(clip)) as container:
        images = [f.to_image() for _, f in zip(range(8), container.decode(video=0), strict=False)]
    frames = np.stack(
        [np.asarray(i.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)) for i in images]
    )
    rng = np.random.default_rng(0)
    spatial = rng.random((8, 14, 14), dtype=np.float32)
    stamps = tuple(float(i) for i in range(8))
    prediction = Prediction(
        model="base", version="1", labels=(("x", 1.0),), clip=ClipInfo(
            duration_s=1.0, fps=25.0, width=224, height=224, rotation=0, stream=0,
            frame_indices=tuple(range(8)), timestamps_s=stamps),
        temporal=np.full((8, 8), 0.125), importance=(0.125,) * 8, token_timestamps=stamps,
        frames=frames, spatial=spatial, timings_ms=Timings(decode=0, queue=0, inference=0, total=0),
    )  # fmt: skip
    return prediction


def get_latency(urls: dict[str, str], clip: Clip, rounds: int) -> dict[str, Any]:
    """GET a stored result and its heatmap from each replica, alternating between them request by request
    so that both see the same background load."""
    clients = {store: httpx.Client(base_url=url, timeout=30) for store, url in urls.items()}
    bodies = {
        s: c.post("/v1/predictions", files={"file": (clip.name, clip.data)}).json()
        for s, c in clients.items()
    }
    times: dict[str, dict[str, list[float]]] = {s: {"result": [], "heatmap": []} for s in clients}
    for _ in range(rounds):
        for what in ("result", "heatmap"):
            for store, client in clients.items():
                links = bodies[store]["links"]
                t0 = time.perf_counter()
                assert client.get(links["self" if what == "result" else "heatmap"]).status_code == 200
                times[store][what].append(time.perf_counter() - t0)
    for client in clients.values():
        client.close()
    return {s: {w: summarise(t).as_ms() for w, t in by.items()} for s, by in times.items()}


def store_calls(redis_url: str, base_sized: Any, rounds: int) -> dict[str, Any]:
    """In-process `put` and `get` of one stored prediction per backend (the store alone, no HTTP)."""
    from service.store import MemoryBackend
    from service.store.prediction_codec import PREDICTION_CODEC
    from service.store.redis_store import RedisBackend

    async def measure(backend: Any) -> dict[str, Any]:
        store = backend.open(PREDICTION_CODEC, kind="prediction")
        puts, gets = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            rid = await store.put(base_sized)
            t1 = time.perf_counter()
            assert await store.get(rid) is not None
            puts.append(t1 - t0)
            gets.append(time.perf_counter() - t1)
        await backend.close()
        return {"put": summarise(puts).as_ms(), "get": summarise(gets).as_ms()}

    return {
        "memory": asyncio.run(measure(MemoryBackend(ttl_s=60, max_items=rounds + 1))),
        "redis": asyncio.run(measure(RedisBackend(redis_url, ttl_s=60, timeout_s=1.0))),
    }


def throughput(url: str, clips: list[Clip], clients: int, seconds: float) -> dict[str, Any]:
    result = asyncio.run(drive(f"{url}/v1/predictions", clips, concurrency=clients, duration_s=seconds))
    return result.summary()


def _spread(values: list[int]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values))), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale_out.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vtserve-scale-out-"))
    model = prepare("auto", Path("bench/results/models"))
    bundle = model.repository / model.name
    clips = real_clips()
    report: dict[str, Any] = {"model": model.label, "clients": args.clients, "seconds": args.seconds}
    base_sized = base_sized_result(Path("../shared/media/nasa_13013.mp4"))
    raw = base_sized.frames.nbytes + base_sized.spatial.nbytes + base_sized.temporal.nbytes
    report["base_sized_result"] = {"raw_bytes": raw, "stored_bytes": len(PREDICTION_CODEC.encode(base_sized))}
    with redis_server(work / "redis") as store:
        report["store_calls_224"] = store_calls(store.url, base_sized, args.rounds)
        with (
            replicas(bundle, work / "memory", 1) as memory,
            replicas(bundle, work / "one", 1, result_store=store.url) as group,
        ):
            report["stored"] = stored_sizes(store.url, group.urls[0], clips)
            report["get"] = get_latency(
                {"memory": memory.urls[0], "redis": group.urls[0]}, clips[0], args.rounds
            )
        with (
            replicas(bundle, work / "one", 1, result_store=store.url) as group,
            nginx(group.urls, work / "nginx-1") as proxy,
        ):
            report["nginx_1_replica"] = throughput(proxy, clips, args.clients, args.seconds)
        with (
            replicas(bundle, work / "two", 2, result_store=store.url) as group,
            nginx(group.urls, work / "nginx-2") as proxy,
        ):
            report["nginx_2_replicas"] = throughput(proxy, clips, args.clients, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
