"""The Ray engine's ingress, decoder and model batchers over real replicas (real decoding, real onnxruntime)
in this process, behind handles that behave like Serve's (tests/service/engines/local.py); real HTTP.

What only a cluster can show (placement on nodes, a node lost under load, Ray's own tooling) is in
test_ray_cluster.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="the Ray engine needs Ray Serve: pip install -e '.[ray]'")

from prometheus_client import CollectorRegistry
from ray.exceptions import ActorDiedError
from ray.serve.exceptions import BackPressureError

from service.app import create_app
from service.engines.ray.handles import DeploymentCaller, Placement
from service.engines.ray.ingress import Ingress
from service.engines.ray.models import DeploymentRuntime
from service.engines.ray.replicas import DecodeReplica, ModelReplica
from service.engines.ray.replies import ModelDescription
from service.engines.ray.telemetry import EngineMetrics
from service.runtimes.base import warmup_batch
from service.settings import Settings
from tests.service.conftest import metric_samples, serve_in_thread
from tests.service.engines.answers import CLIPS, answer, assert_same
from tests.service.engines.local import Faults, LocalHandle, LoopThread

MODEL = "tiny"
AUDIO = "sine_mono_s16.wav"


@dataclass
class Engine:
    url: str
    decode: Faults
    model: Faults

    def post(self, data: bytes) -> httpx.Response:
        headers = {"Content-Type": "video/mp4"}
        return httpx.post(f"{self.url}/v1/predictions", content=data, headers=headers, timeout=60)


@contextmanager
def engine(settings: Settings) -> Iterator[Engine]:
    """The ingress app (as Serve builds it) over a decode and a model replica, served on loopback."""
    loop = LoopThread()
    decode, model = Faults(), Faults()
    decoder = DecodeReplica(settings)
    replica = ModelReplica(settings.models[0], settings)
    try:
        handles = {settings.models[0]: LocalHandle(replica, loop, model)}
        ingress = Ingress(settings, LocalHandle(decoder, loop, decode), handles, startup_timeout_s=30)
        with serve_in_thread(ingress.__serve_build_asgi_app__()) as url:
            yield Engine(url, decode, model)
    finally:
        replica.close()
        decoder.close()
        loop.close()


def cancelled(faults: Faults, within_s: float = 2.0) -> bool:
    """Whether the last call was cancelled (a request that gave up cancels its call soon after)."""
    deadline = time.monotonic() + within_s
    while faults.calls[-1] != "cancel" and time.monotonic() < deadline:
        time.sleep(0.02)
    return faults.calls[-1] == "cancel"


@pytest.fixture()
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(decoder_workers=1, decode_timeout_s=1.0, request_timeout_s=1.0, providers=["cpu"])


def test_same_answers_metrics_and_errors_as_vtserve_serve(
    settings: Settings, media: Callable[[str], Path]
) -> None:
    clips = [media(name).read_bytes() for name in CLIPS]
    with serve_in_thread(create_app(settings)) as url:
        expected = [answer(url, MODEL, data) for data in clips]
        reference_models = httpx.get(f"{url}/v1/models").json()
        audio = httpx.post(f"{url}/v1/predictions", files={"file": media(AUDIO).read_bytes()})
    with engine(settings) as served:
        for data, reference in zip(clips, expected, strict=True):
            assert_same(answer(served.url, MODEL, data), reference, atol=1e-6)
        assert httpx.get(f"{served.url}/v1/models").json() == reference_models
        refused = httpx.post(f"{served.url}/v1/predictions", files={"file": media(AUDIO).read_bytes()})
        assert (refused.status_code, refused.json()) == (audio.status_code, audio.json())
        assert httpx.get(f"{served.url}/").status_code == 200  # the web page
        metrics = httpx.get(f"{served.url}/metrics").text
    served_clips = 2 * len(clips)  # /v1 and /v2
    assert metric_samples(metrics, "vtserve_requests_total")['{model="tiny",status="200"}'] == served_clips
    success = metric_samples(metrics, "vtserve_inference_request_success_total")
    assert success['{model="tiny"}'] == served_clips
    assert metric_samples(metrics, "vtserve_batch_size_sum")['{model="tiny"}'] == served_clips
    assert metric_samples(metrics, "vtserve_decoder_workers_alive")[""] == 1
    assert metric_samples(metrics, "vtserve_decode_failures_total")['{code="no_video_stream"}'] == 1
    calls = metric_samples(metrics, "vtserve_engine_calls_total")
    assert calls['{deployment="decode",node="local"}'] == served_clips + 1
    assert calls['{deployment="model-tiny",node="local"}'] == served_clips + 1  # and describe
    replicas = metric_samples(metrics, "vtserve_engine_replicas")
    deployments = ("decode", "ingress", "model-tiny")
    assert set(replicas) == {f'{{deployment="{d}",node="local"}}' for d in deployments}


def test_a_lost_replica_is_retried_once_then_answered_503(
    settings: Settings, media: Callable[[str], Path]
) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    with engine(settings) as served:
        served.decode.errors = [ActorDiedError()]
        served.model.errors = [ActorDiedError()]
        assert served.post(data).status_code == 200  # each stage retried on another replica
        served.decode.errors = [ActorDiedError(), ActorDiedError()]
        lost = served.post(data)
        assert (lost.status_code, lost.json()["error"]["code"]) == (503, "decoder_crashed")
        assert lost.headers["Retry-After"] == "1" and lost.json()["error"]["retryable"]
        served.model.errors = [ActorDiedError(), ActorDiedError()]
        lost = served.post(data)
        assert (lost.status_code, lost.json()["error"]["code"]) == (503, "not_ready")
        assert "lost" in lost.json()["error"]["message"] and lost.headers["Retry-After"] == "1"
        served.model.errors = [BackPressureError(num_queued_requests=1, max_queued_requests=1)]
        busy = served.post(data)
        assert (busy.status_code, busy.json()["error"]["code"]) == (503, "overloaded")
        assert served.post(data).status_code == 200


def test_a_replica_that_never_answers_costs_a_bounded_504(
    settings: Settings, media: Callable[[str], Path]
) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    with engine(settings) as served:
        served.decode.hang = True
        started = time.monotonic()
        hung = served.post(data)
        assert (hung.status_code, hung.json()["error"]["code"]) == (504, "decode_timeout")
        assert 2 * settings.decode_timeout_s <= time.monotonic() - started < 2 * settings.decode_timeout_s + 5
        assert cancelled(served.decode)
        served.decode.hang = False
        served.model.hang = True
        started = time.monotonic()
        hung = served.post(data)
        assert (hung.status_code, hung.json()["error"]["code"]) == (504, "inference_timeout")
        assert time.monotonic() - started < settings.request_timeout_s + 5
        assert cancelled(served.model)
        served.model.hang = False
        assert served.post(data).status_code == 200
        health = httpx.get(f"{served.url}/healthz")
        assert health.status_code == 200


def test_overload_is_refused_by_admission_with_retry_after(
    make_settings: Callable[..., Settings], media: Callable[[str], Path]
) -> None:
    settings = make_settings(
        decoder_workers=1, max_in_flight=1, admission_wait_ms=0.0, request_timeout_s=3.0, providers=["cpu"]
    )
    assert settings.max_queue > 1  # the bound is the admission limit, as under `vtserve serve`
    data = media("nasa_13013.mp4").read_bytes()
    with engine(settings) as served:
        served.model.hang = True  # the one admission slot stays taken while its clip waits
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(served.post, data)
            time.sleep(1.5)
            refused = served.post(data)
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "overloaded")
        assert refused.headers["Retry-After"] == "1"
        assert first.result().status_code == 504
        assert served.decode.calls == ["decode"]  # nothing was sent to decode for the refused request


def _timeline(url: str, data: bytes) -> list[dict[str, Any]]:
    params = {"window_s": 4, "stride_s": 3, "top_k": 3}
    headers = {"Content-Type": "video/mp4"}
    response = httpx.post(f"{url}/v1/timelines", params=params, content=data, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_timelines_stream_the_same_windows(settings: Settings, media: Callable[[str], Path]) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    with serve_in_thread(create_app(settings)) as url:
        expected = _timeline(url, data)
    with engine(settings) as served:
        got = _timeline(served.url, data)
    assert [line["type"] for line in got] == [line["type"] for line in expected]
    windows = [(g, e) for g, e in zip(got, expected, strict=True) if g["type"] == "window"]
    assert len(windows) >= 4
    for g, e in windows:
        assert (g["start_s"], g["end_s"], g["timestamps_s"]) == (e["start_s"], e["end_s"], e["timestamps_s"])
        assert [x["label"] for x in g["labels"]] == [x["label"] for x in e["labels"]]
        scores = [x["score"] for x in g["labels"]], [x["score"] for x in e["labels"]]
        np.testing.assert_allclose(*scores, atol=1e-6)


def test_a_remote_models_runtime_runs_whole_batches_on_a_replica(settings: Settings) -> None:
    loop = LoopThread()
    replica = ModelReplica(settings.models[0], settings)
    try:
        caller = DeploymentCaller(LocalHandle(replica, loop, Faults()), "model-tiny")
        description = caller.call_blocking("describe", timeout_s=30)
        assert isinstance(description, ModelDescription)
        runtime = DeploymentRuntime(caller, description, timeout_s=30)
        assert (runtime.name, runtime.provider) == ("onnxruntime", "CPUExecutionProvider")
        batch = warmup_batch(runtime.input_spec, 3)
        remote, local = runtime.infer(batch), replica.model.runtime.infer(batch)
        np.testing.assert_array_equal(remote.logits, local.logits)
        assert remote.temporal is not None and local.temporal is not None
        np.testing.assert_array_equal(remote.temporal, local.temporal)
    finally:
        replica.close()
        loop.close()


def test_replicas_count_while_they_answer() -> None:
    now = [0.0]
    ingress = Placement(deployment="ingress", node_id="a", replica_id="i")
    engine_metrics = EngineMetrics(CollectorRegistry(), ingress, clock=lambda: now[0], recent_s=60)
    for replica, node in (("d1", "b"), ("d2", "b"), ("d3", "a")):
        engine_metrics.answered(Placement(deployment="decode", node_id=node, replica_id=replica))
    assert engine_metrics.replicas() == {("ingress", "a"): 1, ("decode", "b"): 2, ("decode", "a"): 1}
    now[0] = 61.0
    engine_metrics.answered(Placement(deployment="decode", node_id="b", replica_id="d2"))
    assert engine_metrics.replicas() == {("ingress", "a"): 1, ("decode", "b"): 1}
    assert engine_metrics.calls.labels(deployment="decode", node="b")._value.get() == 3
