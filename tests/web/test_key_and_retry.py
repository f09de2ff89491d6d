"""An API key typed once (kept in sessionStorage, sent as a Bearer header, never in a URL), and a server
that is still loading its models: 503 + Retry-After shown as a countdown, then retried until it answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.loaded_models import LoadedModels
from service.loading import load_models
from service.metrics import Metrics
from service.settings import Settings
from tests.web.conftest import Watched, serve_starting, shipped_settings

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = pytest.mark.timeout(300)
KEY = "page-test-key-7Qx"


def test_key_once_and_a_visible_retry_while_the_server_starts(
    shipped_cache: Path, open_page: Callable[..., Watched], media: Callable[[str], Path]
) -> None:
    released = threading.Event()

    def load_when_released(settings: Settings, metrics: Metrics) -> LoadedModels:
        released.wait(120)  # the server answers 503 not_ready (with Retry-After) until then
        return load_models(settings, metrics)

    settings = shipped_settings(shipped_cache, api_key=KEY)
    app = create_app(settings, models_factory=load_when_released)
    with serve_starting(app) as base_url:
        refused = httpx.get(f"{base_url}/v1/models", timeout=30).json()["error"]
        watched = open_page(base_url)
        page = watched.page
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(refused["message"])
        expect(alert).to_contain_text("unauthorized")

        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Use key").click()
        first_keyed = len(watched.requests)
        expect(alert).to_contain_text("Retrying in", timeout=15_000)
        expect(alert).to_contain_text("not_ready")
        watched.screenshot("web-retry-countdown")
        released.set()
        expect(page.locator("#model-a")).to_be_enabled(timeout=120_000)
        expect(alert).to_be_hidden()

        page.set_input_files("#file", str(media("h264_10bits.mp4")))
        page.get_by_role("button", name="Classify").click()
        model = page.input_value("#model-a")
        watched.wait_until(
            f"[...document.querySelectorAll('article[data-model=\"{model}\"] img.heat')]"
            ".some((i) => i.complete && i.naturalWidth > 0)"
        )
        assert page.evaluate("sessionStorage.getItem('vtserve.apiKey')") == KEY
        check_key_use(watched.requests[first_keyed:])
        assert all(KEY not in request.url for request in watched.requests), "the key appeared in a URL"
        assert watched.unexpected_errors(401, 503) == []

        page.reload()  # the key is remembered for this tab: no typing, no 401
        expect(page.locator("#model-a")).to_be_enabled(timeout=30_000)
        expect(alert).to_be_hidden()


def check_key_use(requests: list[Any]) -> None:
    """Every API call after the key was entered, heatmaps included, carried it as a Bearer header."""
    api = [r for r in requests if "/v1/" in r.url]
    assert any("/heatmap.png" in r.url for r in api), [r.url for r in api]
    for request in api:
        assert request.all_headers().get("authorization") == f"Bearer {KEY}", request.url
