"""End to end over real HTTP: uvicorn on 127.0.0.1, a real exported bundle, real decoding.

The tiny bundle has random weights, so these tests check the serving machinery, not label quality
(tests/service/test_shipped_models.py checks labels on the shipped models).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from export.manifest import read_manifest
from service.app import create_app
from service.loaded_models import LoadedModels
from service.loading import load_model, runtime_options
from service.runtimes import Runtime, RuntimeOutputs, create_runtime
from service.settings import Settings
from tests.service.conftest import free_port, metric_samples, serve_in_thread, wait_ready

VIDEOS = [
    "av1_video.mkv",
    "bt709_full_range.mp4",
    "h264_10bits.mp4",
    "h265_10bits.mp4",
    "h265_video.mp4",
    "nasa_13013.mp4",
    "video_0.mov",
    "video_90.mov",
    "video_180.mov",
    "video_270.mov",
]
AUDIO_ONLY = ["nasa_13013.mp4.audio.mp3", "sine_mono_s16.wav"]


async def post_many(base_url: str, payloads: list[bytes], **params: Any) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(payloads) + 5)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        "/v1/predictions", content=p, headers={"Content-Type": "video/mp4"}, params=params
                    )
                    for p in payloads
                )
            )
        )


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=2,
        max_batch_size=8,
        max_wait_ms=150.0,
        max_queue=64,
        max_in_flight=64,  # these tests send 20 at once and expect every one answered (admission: test_admit)
    )
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def test_every_shared_video_is_answered(server: str, media: Callable[[str], Path]) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        for name in VIDEOS:
            response = client.post("/v1/predictions", files={"file": (name, media(name).read_bytes())})
            assert response.status_code == 200, (name, response.text)
            body = response.json()
            assert abs(sum(body["attention"]["frame_importance"]) - 1.0) < 1e-6, name
            assert all(abs(sum(row) - 1.0) < 1e-6 for row in body["attention"]["temporal"]), name
            grid = Image.open(io.BytesIO(client.get(body["links"]["heatmap"]).content))
            assert grid.format == "PNG" and grid.size == (4 * 128, 128), name
            if name.startswith("video_"):
                rotation = int(name.split("_")[1].split(".")[0])
                assert body["clip"]["rotation"] == rotation
                expected = (320, 568) if rotation in (90, 270) else (568, 320)
                assert (body["clip"]["width"], body["clip"]["height"]) == expected


def test_corrupted_clip_is_decoded_or_refused_cleanly(server: str, media: Callable[[str], Path]) -> None:
    response = httpx.post(
        f"{server}/v1/predictions",
        content=media("corrupted.mp4").read_bytes(),
        headers={"Content-Type": "video/mp4"},
    )
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text


def test_refused_media_get_documented_4xx(server: str, media: Callable[[str], Path]) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        for name in AUDIO_ONLY:
            response = client.post("/v1/predictions", files={"file": (name, media(name).read_bytes())})
            assert response.status_code in (415, 422), (name, response.text)
        random_bytes = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
        response = client.post("/v1/predictions", content=random_bytes, headers={"Content-Type": "video/mp4"})
        assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media"
        wrong_type = client.post(
            "/v1/predictions", content=b"{}", headers={"Content-Type": "application/json"}
        )
        assert wrong_type.status_code == 415
    # 413 from Content-Length alone, before the body is read (a raw socket: clients refuse to lie);
    # answered in the error envelope and counted like any other failed prediction request
    key = '{model="unknown",status="413"}'
    before = metric_samples(httpx.get(f"{server}/metrics").text, "vtserve_requests_total").get(key, 0.0)
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            b"Content-Length: 1000000000000\r\n\r\n" + b"\x00" * 1024
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.decode("latin-1").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), head[:200]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    after = metric_samples(httpx.get(f"{server}/metrics").text, "vtserve_requests_total").get(key, 0.0)
    assert after == before + 1


def test_concurrent_requests_are_batched_and_all_answered(server: str, media: Callable[[str], Path]) -> None:
    before = metric_samples(httpx.get(f"{server}/metrics").text, "vtserve_batch_size_count")
    clips = [media(name).read_bytes() for name in ("h265_video.mp4", "h264_10bits.mp4", "video_0.mov")]
    responses = asyncio.run(post_many(server, [clips[i % 3] for i in range(20)]))
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["id"] for r in responses}) == 20
    text = httpx.get(f"{server}/metrics").text
    counts = metric_samples(text, "vtserve_batch_size_count")
    sums = metric_samples(text, "vtserve_batch_size_sum")
    ones = metric_samples(text, "vtserve_batch_size_bucket")['{le="1.0",model="tiny"}']
    batches = counts['{model="tiny"}'] - before.get('{model="tiny"}', 0.0)
    assert batches < 20, "20 concurrent requests ran as 20 batches of 1"
    assert counts['{model="tiny"}'] > ones, "the batch-size histogram shows no batch larger than 1"
    assert sums['{model="tiny"}'] >= 20


class FailsOnCalls:
    """A deliberately failing runtime: the real ONNX runtime, except that chosen calls to `infer` raise."""

    def __init__(self, inner: Runtime, fail_on: set[int]) -> None:
        self.inner = inner
        self.name = inner.name
        self.provider = inner.provider
        self.input_spec = inner.input_spec
        self.fail_on = fail_on
        self.batch_sizes: list[int] = []

    def warmup(self) -> None:
        self.inner.warmup()

    def infer(self, batch: np.ndarray) -> RuntimeOutputs:
        self.batch_sizes.append(batch.shape[0])
        if len(self.batch_sizes) in self.fail_on:
            raise RuntimeError("injected failure with /internal/details")
        return self.inner.infer(batch)

    def close(self) -> None:
        self.inner.close()


def test_a_runtime_exception_fails_only_its_batch(
    tiny_bundle: Path, tmp_path: Path, media: Callable[[str], Path]
) -> None:
    holder: dict[str, FailsOnCalls] = {}

    def loaded(settings: Settings, metrics: Any) -> LoadedModels:
        manifest = read_manifest(tiny_bundle)
        inner = create_runtime("onnxruntime", tiny_bundle, manifest, runtime_options(settings))
        holder["rt"] = FailsOnCalls(inner, fail_on={1})
        return LoadedModels([load_model("tiny", tiny_bundle, settings, metrics, runtime=holder["rt"])])

    settings = Settings(models=[str(tiny_bundle)], cache_dir=tmp_path, max_wait_ms=300.0, decoder_workers=2)
    clip = media("h265_video.mp4").read_bytes()
    with serve_in_thread(create_app(settings, models_factory=loaded)) as base_url:
        first = asyncio.run(post_many(base_url, [clip] * 4))
        statuses = [r.status_code for r in first]
        failed = [r for r in first if r.status_code == 500]
        assert len(failed) == holder["rt"].batch_sizes[0], (statuses, holder["rt"].batch_sizes)
        assert set(statuses) <= {200, 500}
        for r in failed:
            assert r.json()["error"]["code"] == "inference_failed" and r.json()["error"]["retryable"] is True
            assert "internal" not in r.text and "injected" not in r.text
        again = asyncio.run(post_many(base_url, [clip] * 4))
        assert [r.status_code for r in again] == [200] * 4
        assert httpx.get(f"{base_url}/readyz").status_code == 200


def test_overload_gives_503_with_retry_after_never_500(
    tiny_bundle: Path, tmp_path: Path, media: Callable[[str], Path]
) -> None:
    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path,
        max_queue=2,
        max_wait_ms=200.0,
        decoder_workers=1,
        admission_wait_ms=0.0,  # past the 2 admitted, refused at once: the burst must see refusals
    )
    clip = media("nasa_13013.mp4").read_bytes()
    with serve_in_thread(create_app(settings)) as base_url:
        responses = asyncio.run(post_many(base_url, [clip] * 20))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}, statuses
        refused = [r for r in responses if r.status_code == 503]
        assert refused and statuses.count(200) >= 2
        for r in refused:
            assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "overloaded"
        text = httpx.get(f"{base_url}/metrics").text
        assert 'vtserve_requests_total{model="tiny",status="503"}' in text


def _start_server(bundle: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VTSERVE_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.commands.serve",
            "--port",
            str(port),
            "--models",
            str(bundle),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_sigterm_finishes_requests_in_flight(tiny_bundle: Path, media: Callable[[str], Path]) -> None:
    port = free_port()
    proc = _start_server(tiny_bundle, port, "--max-wait-ms", "1500", "--max-batch-size", "32")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url)
        clip = media("h265_video.mp4").read_bytes()
        results: list[list[httpx.Response]] = []
        sender = threading.Thread(target=lambda: results.append(asyncio.run(post_many(base_url, [clip] * 6))))
        sender.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until all 6 are admitted (decoded and queued)
            depth = metric_samples(httpx.get(f"{base_url}/metrics").text, "vtserve_queue_depth")
            if depth.get('{model="tiny"}', 0) >= 6:
                break
            time.sleep(0.02)
        else:
            pytest.fail("requests never reached the batcher")
        proc.send_signal(signal.SIGTERM)
        sender.join(60)
        assert [r.status_code for r in results[0]] == [200] * 6
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status reports SIGTERM
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    log = proc.stdout.read().decode() if proc.stdout else ""
    assert "Traceback" not in log, log
    assert "stopped" in log  # the lifespan drained the batchers and closed the decoder pool
