"""The autoscaling PromQL, evaluated by a real Prometheus (Debian's) scraping a live replica under load.

The queries are read from deploy/k8s/prometheus-adapter/values.yaml and filled in the way
prometheus-adapter fills them for a pods metric (`<<.LabelMatchers>>` = the pod's namespace and name,
`<<.GroupBy>>` = `pod`); only the rate window is shortened from 1m to 5s so that a phase of load shows
within seconds. The scrape target carries the `namespace` and `pod` labels that the kubernetes_sd scrape
job adds in a cluster. Light load, then heavy load: each rule's value must rise.

* queue seconds per request: inference pressure, from `/v2` requests of pre-decoded clips (32 per request
  from 4 clients against batches of 4 keep the batcher queue full; one clip at a time leaves it empty);
  admission is raised to 64 clips in progress so that the queue can build up at all;
* refusals per second: those 128 clips wanted against 64 admitted, so some requests get 503 `overloaded`;
* requests in progress: `/v1` uploads, 1 client (with the one `/v2` client), then 6 on their own.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from service.app import create_app
from service.settings import Settings
from tests.deploy.conftest import DEPLOY
from tests.service.conftest import free_port, serve_in_thread
from tests.service.decoding.synth import encode_clip

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ADAPTER_VALUES = DEPLOY / "k8s" / "prometheus-adapter" / "values.yaml"
LABELS = {"namespace": "vtserve", "pod": "vtserve-0"}
PHASE_S = 8.0


def adapter_queries() -> dict[str, str]:
    """metric name -> PromQL, as prometheus-adapter would run it for our pod (window shortened to 5s)."""
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    matchers = ",".join(f'{k}="{v}"' for k, v in LABELS.items())
    return {
        rule["name"]["as"]: rule["metricsQuery"]
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", "pod")
        .replace("[1m]", "[5s]")
        for rule in rules
    }


def query(prom_url: str, expr: str) -> float:
    response = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else math.nan


def prometheus(target: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "vtserve",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [target], "labels": LABELS}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def v2_body(clips: int) -> tuple[bytes, dict[str, str]]:
    import tritonclient.http as triton

    video = np.random.default_rng(clips).integers(0, 256, (clips, 4, 32, 32, 3), dtype=np.uint8)
    tensor = triton.InferInput("video", list(video.shape), "UINT8").set_data_from_numpy(video)
    body, json_size = triton.InferenceServerClient.generate_request_body([tensor])
    return body, {"Inference-Header-Content-Length": str(json_size)}


def run_load(base_url: str, senders: list[Callable[[httpx.Client], httpx.Response]], seconds: float) -> int:
    """Each sender in its own thread, in a loop for `seconds`; returns how many requests succeeded."""
    done: list[int] = []
    stop_at = time.monotonic() + seconds

    def loop(send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while time.monotonic() < stop_at:
                response = send(client)
                assert response.status_code in (200, 503), response.text
                if response.status_code == 200:
                    done.append(1)
                else:
                    time.sleep(0.05)  # a refused client backs off a little, as Retry-After asks

    threads = [threading.Thread(target=loop, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return len(done)


@pytest.fixture()
def scraped_replica(tiny_bundle: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if not Path(PROMETHEUS).is_file():
        pytest.skip(
            "Debian's prometheus is not installed (apt-get install -y prometheus; `make install` does it)"
        )
    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path / "cache",
        decoder_workers=1,
        max_batch_size=4,
        max_wait_ms=2.0,
        intra_op_threads=1,
        max_in_flight=64,
        admission_wait_ms=0.0,  # past the 64, refused at once: the refusal rate is one of the signals
    )
    with serve_in_thread(create_app(settings)) as base_url:
        proc, prom_url = prometheus(base_url.removeprefix("http://"), tmp_path)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if query(prom_url, 'up{job="vtserve"}') == 1.0:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            else:
                pytest.fail("prometheus never scraped the replica")
            yield base_url, prom_url
        finally:
            proc.terminate()
            proc.wait(30)


def test_the_autoscaling_queries_rise_with_load(scraped_replica: tuple[str, str]) -> None:
    base_url, prom_url = scraped_replica
    queries = adapter_queries()
    assert set(queries) == {
        "vtserve_queue_seconds_per_request",
        "vtserve_overloaded_per_second",
        "vtserve_inflight_requests_avg",
    }
    one, many = v2_body(1), v2_body(32)
    clip = encode_clip(width=96, height=64, frames=24)

    def v2(payload: tuple[bytes, dict[str, str]]) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.post("/v2/models/tiny/infer", content=payload[0], headers=payload[1])

    def v1(c: httpx.Client) -> httpx.Response:
        return c.post("/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"})

    values: list[dict[str, float]] = []
    for senders in ([v2(one), v1], [v2(many)] * 4, [v1] * 6):
        assert run_load(base_url, senders, PHASE_S) > 0
        time.sleep(1.5)  # one more scrape
        values.append({name: query(prom_url, expr) for name, expr in queries.items()})
    light, heavy, uploads = values
    queue = "vtserve_queue_seconds_per_request"
    assert heavy[queue] > 2 * light[queue] and heavy[queue] > 0.01, values
    refused = "vtserve_overloaded_per_second"
    assert not light[refused] > 0.0 and heavy[refused] > 0.0, values  # NaN: no refusal counted yet
    inflight = "vtserve_inflight_requests_avg"  # light: two sequential clients; then 6 uploading at once
    assert light[inflight] <= 2.0 and uploads[inflight] >= max(2.5, light[inflight] + 1.0), values
