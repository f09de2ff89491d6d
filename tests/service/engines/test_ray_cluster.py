"""The Ray engine on a real two-node Ray cluster on this machine (a head and a worker, 1 CPU each, started
as separate `ray start` processes; tests/service/engines/cluster.py), deployed with Ray's own tooling
(`serve run` of a config derived from deploy/ray/serve.yaml) and with `vtserve serve --engine ray`.

Custom resources pin the replicas: the ingress and the model on the head (`vtserve_head`), decoding on the
worker (`vtserve_decode`). The tests run in file order on one cluster; the node-loss test replaces the worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("ray.serve", reason="the Ray engine needs Ray Serve: pip install -e '.[ray]'")
yaml = pytest.importorskip("yaml")

from service.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.service.conftest import free_port, metric_samples, serve_in_thread  # noqa: E402
from tests.service.engines.answers import CLIPS, Answer, answer, assert_same  # noqa: E402
from tests.service.engines.cluster import Cluster, driver, node_with, ray_cluster, serve_run  # noqa: E402

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL = "tiny"
HEAD = {"vtserve_head": 2.0}  # the ingress and the model replica take one each
WORKER = {"vtserve_decode": 1.0}
ON_HEAD, ON_WORKER = {"vtserve_head": 1.0}, {"vtserve_decode": 1.0}
#: vtserve settings of every replica: small queues and short bounds, so overload and loss show quickly
SETTINGS: dict[str, Any] = {
    "providers": ["cpu"],
    "decoder_workers": 1,
    "max_batch_size": 4,
    "max_wait_ms": 5,
    "max_in_flight": 6,  # admitted per model by the ingress (the batcher's max_queue stays at its 64)
    "admission_wait_ms": 0,  # past them refused at once, so a burst shows refusals however fast replicas are
    "decode_timeout_s": 3,
    "request_timeout_s": 10,
    "intra_op_threads": 1,
    "log_level": "info",
}


@dataclass
class Deployed:
    cluster: Cluster
    url: str
    port: int
    folder: Path

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def calls(self) -> dict[str, dict[str, float]]:
        """`{deployment: {node: calls}}` from `vtserve_engine_calls_total`."""
        out: dict[str, dict[str, float]] = {}
        for labels, value in metric_samples(self.metrics(), "vtserve_engine_calls_total").items():
            fields = dict(part.split("=") for part in labels.strip("{}").replace('"', "").split(","))
            out.setdefault(fields["deployment"], {})[fields["node"]] = value
        return out


def serve_config(folder: Path, bundle: Path, port: int) -> Path:
    """deploy/ray/serve.yaml with this test's bundle, settings, port and placement."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "ray" / "serve.yaml").read_text())
    config["proxy_location"] = "HeadOnly"
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    args = config["applications"][0]["args"]
    args["settings"] = {**SETTINGS, "models": [str(bundle)]}
    args["ingress"] = {"resources": ON_HEAD}
    args["decode"] = {"min_replicas": 1, "max_replicas": 1, "resources": ON_WORKER}
    args["model"] = {"min_replicas": 1, "max_replicas": 1, "resources": ON_HEAD}
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_ready(url: str, timeout_s: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s}s\n{what()}")


@pytest.fixture(scope="module")
def expected(
    bundle: Path, media: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> list[Answer]:
    """What `vtserve serve` answers (create_app under uvicorn, this process) for the shared clips."""
    cache = tmp_path_factory.mktemp("cache")
    settings = Settings(**SETTINGS, models=[str(bundle)], cache_dir=cache)
    with serve_in_thread(create_app(settings)) as url:
        return [answer(url, MODEL, media(name).read_bytes()) for name in CLIPS]


@pytest.fixture(scope="module")
def deployed(
    bundle: Path, expected: list[Answer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("ray")
    port = free_port()
    with ray_cluster(folder, HEAD, WORKER) as cluster:
        serve_run(cluster, serve_config(folder, bundle, port))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, 240, cluster.logs)
        yield Deployed(cluster, url, port, folder)


@dataclass(frozen=True)
class Outcome:
    status: int | str  # HTTP status, or the client-side exception's name
    code: str  # the error code, "" for 200
    retryable: bool
    retry_after: str | None
    seconds: float


async def _post(client: httpx.AsyncClient, data: bytes) -> Outcome:
    started = time.monotonic()
    try:
        response = await client.post("/v1/predictions", content=data, headers={"Content-Type": "video/mp4"})
    except httpx.HTTPError as exc:
        return Outcome(type(exc).__name__, "", False, None, time.monotonic() - started)
    error = response.json().get("error", {}) if response.status_code != 200 else {}
    return Outcome(
        response.status_code,
        error.get("code", ""),
        bool(error.get("retryable", False)),
        response.headers.get("Retry-After"),
        time.monotonic() - started,
    )


async def burst(url: str, data: bytes, count: int) -> list[Outcome]:
    """`count` uploads at once."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return list(await asyncio.gather(*(_post(client, data) for _ in range(count))))


async def load(url: str, data: bytes, clients: int, seconds: float) -> list[Outcome]:
    """`clients` closed-loop clients posting `data` for `seconds`."""
    stop = time.monotonic() + seconds
    outcomes: list[Outcome] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            outcomes.append(await _post(client, data))

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients)) as c:
        await asyncio.gather(*(client_loop(c) for _ in range(clients)))
    return outcomes


def test_answers_shared_clips_as_vtserve_serve(
    deployed: Deployed, expected: list[Answer], media: Callable[[str], Path]
) -> None:
    for name, reference in zip(CLIPS, expected, strict=True):
        assert_same(answer(deployed.url, MODEL, media(name).read_bytes()), reference, atol=1e-5)
    audio_file = {"file": media("sine_mono_s16.wav").read_bytes()}
    audio = httpx.post(f"{deployed.url}/v1/predictions", files=audio_file)
    assert (audio.status_code, audio.json()["error"]["code"]) == (422, "no_video_stream")
    assert "text/html" in httpx.get(f"{deployed.url}/").headers["content-type"]  # the web page
    models = httpx.get(f"{deployed.url}/v1/models").json()["models"]
    assert [(m["name"], m["provider"], m["max_batch_size"]) for m in models] == [
        (MODEL, "CPUExecutionProvider", SETTINGS["max_batch_size"])
    ]


def test_decoding_and_the_model_run_on_different_nodes(deployed: Deployed) -> None:
    calls = deployed.calls()
    (decode_node,) = calls["decode"]
    (model_node,) = calls[f"model-{MODEL}"]
    assert decode_node == node_with(deployed.cluster, "vtserve_decode")
    assert model_node == node_with(deployed.cluster, "vtserve_head") != decode_node
    replicas = metric_samples(deployed.metrics(), "vtserve_engine_replicas")
    assert replicas[f'{{deployment="ingress",node="{model_node}"}}'] == 1
    assert replicas[f'{{deployment="decode",node="{decode_node}"}}'] == 1
    logs = "".join(p.read_text(errors="replace") for p in deployed.folder.rglob("*/logs/*.err"))
    assert f"on node {decode_node}" in logs and "decode replica" in logs  # the replicas log where they run
    assert f"on node {model_node}" in logs and "model replica" in logs


def test_overload_is_answered_503_with_retry_after(deployed: Deployed, media: Callable[[str], Path]) -> None:
    decoded = sum(deployed.calls().get("decode", {}).values())
    outcomes = asyncio.run(burst(deployed.url, media("nasa_13013.mp4").read_bytes(), 24))
    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) == {200, 503}, statuses
    refused = [o for o in outcomes if o.status == 503]
    assert all(o.code == "overloaded" and o.retryable and o.retry_after == "1" for o in refused)
    # refused from the headers by the ingress's admission: nothing was decoded for them
    assert sum(deployed.calls()["decode"].values()) - decoded == statuses[200]


def test_a_worker_node_lost_under_load_costs_only_retryable_errors(
    deployed: Deployed, media: Callable[[str], Path]
) -> None:
    cluster, data = deployed.cluster, media("nasa_13013.mp4").read_bytes()
    lost = node_with(cluster, "vtserve_decode")
    (worker,) = [node for node in cluster.nodes if node.name == "worker"]

    async def lose_the_worker() -> tuple[list[Outcome], list[int]]:
        running = asyncio.create_task(load(deployed.url, data, clients=4, seconds=20))
        await asyncio.sleep(4)
        await asyncio.to_thread(worker.kill)
        health = []
        async with httpx.AsyncClient(base_url=deployed.url, timeout=10) as client:
            for _ in range(10):
                health.append((await client.get("/healthz")).status_code)
                await asyncio.sleep(1)
        return await running, health

    outcomes, health = asyncio.run(lose_the_worker())
    statuses = Counter((o.status, o.code) for o in outcomes)
    assert {status for status, _ in statuses} <= {200, 503, 504}, statuses  # no 500, no hung client
    assert any(o.status != 200 for o in outcomes), statuses  # the loss was felt
    assert all(o.retryable for o in outcomes if o.status != 200), statuses
    assert max(o.seconds for o in outcomes) < 2 * SETTINGS["decode_timeout_s"] + 5
    assert set(health) == {200}  # the service stayed live

    cluster.start_node("worker-2", WORKER)  # the node comes back: Serve places a decode replica there
    returned = time.monotonic()
    deadline = returned + 180
    while (outcome := asyncio.run(burst(deployed.url, data, 1))[0]).status != 200:
        assert outcome.status in (503, 504) and time.monotonic() < deadline, outcome
    print(f"node lost under load: {dict(statuses)}; slowest answer {max(o.seconds for o in outcomes):.1f} s;")
    print(f"first 200 {time.monotonic() - returned:.0f} s after `ray start` of the returning node")
    replacement = node_with(cluster, "vtserve_decode")
    assert replacement != lost
    assert deployed.calls()["decode"][replacement] >= 1


def test_vtserve_serve_engine_ray_deploys_on_the_cluster(
    deployed: Deployed, bundle: Path, expected: list[Answer], media: Callable[[str], Path]
) -> None:
    driver(deployed.cluster, "from ray import serve\nserve.delete('vtserve')")
    settings = {f"VTSERVE_{k.upper()}": str(v) for k, v in SETTINGS.items() if k != "providers"}
    env = deployed.cluster.env | settings | {"VTSERVE_PROVIDERS": "cpu"}
    env["VTSERVE_RAY_ADDRESS"] = deployed.cluster.address
    argv = [sys.executable, "-m", "service.commands.serve", "--engine", "ray", "--host", "127.0.0.1"]
    argv += ["--port", str(deployed.port), "--models", str(bundle)]
    log = deployed.folder / "vtserve-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=deployed.folder, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(deployed.url, 240, lambda: log.read_text(errors="replace")[-4000:])
        assert_same(answer(deployed.url, MODEL, media(CLIPS[0]).read_bytes()), expected[0], atol=1e-5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text(errors="replace")[-4000:]
        assert httpx.get(f"{deployed.url}/readyz", timeout=10).status_code != 200  # the app was deleted
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
