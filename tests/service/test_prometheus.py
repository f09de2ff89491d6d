"""Debian's Prometheus scrapes the service on loopback with the repo's scrape config (adapted to a
static loopback target), and a latency-quantile query returns a value."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import free_port, serve_in_thread

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.yml"
QUANTILE = "histogram_quantile(0.9, sum by (le) (rate(vtserve_request_duration_seconds_bucket[30s])))"

pytestmark = pytest.mark.integration


def loopback_config(target: str, prometheus_port: int) -> dict[str, Any]:
    """The repo's scrape config with the vtserve job pointed at `target` and short intervals."""
    config: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    config["global"] = {**config.get("global", {}), "scrape_interval": "1s", "evaluation_interval": "1s"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["vtserve"]
    for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
        del job[key]
    job.update({"static_configs": [{"targets": [target]}], "scrape_interval": "1s", "scrape_timeout": "1s"})
    if "prometheus" in jobs:
        jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{prometheus_port}"]}]
    return config


def query(prom_url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_and_answers_a_latency_quantile(
    tiny_bundle: Path, tmp_path: Path, media: Callable[[str], Path]
) -> None:
    if not Path(PROMETHEUS).is_file():
        pytest.skip("Debian's prometheus is not installed (apt-get install -y prometheus)")
    if not SCRAPE_CONFIG.is_file():
        pytest.skip(f"{SCRAPE_CONFIG} is missing")
    settings = Settings(models=[str(tiny_bundle)], cache_dir=tmp_path / "cache", decoder_workers=1)
    clip = media("h265_video.mp4").read_bytes()
    with serve_in_thread(create_app(settings)) as base_url:
        prom_port = free_port()
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(loopback_config(base_url.removeprefix("http://"), prom_port)))
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        prom_url = f"http://127.0.0.1:{prom_port}"
        try:
            deadline = time.monotonic() + 60
            value = math.nan
            scraped = False
            while time.monotonic() < deadline:
                try:
                    scraped = scraped or any(
                        r["value"][1] == "1" for r in query(prom_url, 'up{job="vtserve"}')
                    )
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                if scraped:  # keep traffic flowing so rate() over the scrapes is non-zero
                    response = httpx.post(
                        f"{base_url}/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"}
                    )
                    assert response.status_code == 200
                    result = query(prom_url, QUANTILE)
                    if result and not math.isnan(float(result[0]["value"][1])):
                        value = float(result[0]["value"][1])
                        break
                time.sleep(0.3)
            assert scraped, "prometheus never scraped the service"
            assert 0.0 < value < 30.0, f"no latency quantile from prometheus ({QUANTILE})"
        finally:
            proc.terminate()
            proc.wait(30)
