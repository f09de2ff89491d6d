"""The dashboard against the real thing: the app built by `service.app.create_app`, serving a real exported
bundle over HTTP, after a good clip (H.264 in MP4, encoded here with PyAV) and a broken one. Every
`vtserve_*` series and label the dashboard reads must be in that live /metrics output."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy import promql
from tests.deploy.conftest import load_dashboard
from tests.deploy.test_dashboard import check_against
from tests.service.conftest import serve_in_thread
from tests.service.decoding.synth import encode_clip


@pytest.fixture(scope="module")
def live_metrics(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    from service.app import create_app
    from service.settings import Settings

    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=1,
        max_wait_ms=5.0,
    )
    clip = encode_clip(width=96, height=64, frames=24)
    with (
        serve_in_thread(create_app(settings)) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as client,
    ):
        good = client.post("/v1/predictions", files={"file": ("clip.mp4", clip, "video/mp4")})
        assert good.status_code == 200, good.text
        bad = client.post(
            "/v1/predictions", files={"file": ("clip.mp4", b"\x00not a video" * 64, "video/mp4")}
        )
        assert 400 <= bad.status_code < 500, bad.text
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text


def test_live_metrics_carry_the_traffic_just_sent(live_metrics: str) -> None:
    labels = promql.sample_labels(live_metrics)
    series, _ = promql.exposed_series(live_metrics)
    assert {"vtserve_requests_total", "vtserve_request_duration_seconds_bucket"} <= series
    assert labels["vtserve_requests_total"] >= {"model", "status"}
    assert labels["vtserve_stage_duration_seconds_bucket"] >= {"model", "stage", "le"}
    assert 'status="200"' in live_metrics and "vtserve_decode_failures_total{" in live_metrics


def test_dashboard_reads_only_what_the_live_app_exports(live_metrics: str) -> None:
    assert check_against(live_metrics, load_dashboard()) == []
