"""Fixtures for the web page's tests: the real service on loopback and Debian's Chromium driven by
Playwright (no `playwright install`: the browser is the system's). Screenshots go to tests/artifacts/.

Tests skip, with the reason, when /usr/bin/chromium or the playwright package is missing; `make install`
installs both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
import uvicorn

from service.app import create_app
from service.bundles import shipped_weights_dir
from service.settings import SHIPPED_MODELS, Settings
from tests.conftest import REPO_ROOT
from tests.service.conftest import free_port, serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the (closed) network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium; `make install` does it)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "the playwright package is not installed (pip install -e '.[dev]'; `make install` does it)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page with what it logged: console errors, uncaught exceptions, and every request it sent."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def unexpected_errors(self, *allowed_statuses: int) -> list[str]:
        """Console errors and exceptions, except the browser's own line for an HTTP status the test caused."""
        allowed = tuple(f"the server responded with a status of {s} " for s in allowed_statuses)
        kept = [e for e in self.console_errors if not (allowed and any(a in e for a in allowed))]
        return kept + self.page_errors

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def wait_until(self, script: str, timeout_s: float = 30.0) -> Any:
        """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
        strings with eval(), which the page's Content-Security-Policy forbids, as it should.)"""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.page.evaluate(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout_s}s: {script}")
            time.sleep(0.1)


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on("request", lambda request: watched.requests.append(request))
    return watched


@pytest.fixture()
def open_page(browser: Browser) -> Iterator[Callable[..., Watched]]:
    """`open_page(url, viewport=DESKTOP)`: a fresh browser context (own sessionStorage) on the page."""
    contexts = []

    def open_(url: str, viewport: dict[str, int] | None = None) -> Watched:
        context = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        contexts.append(context)
        watched = watch(context.new_page())
        watched.page.goto(url)
        return watched

    yield open_
    for context in contexts:
        context.close()


def shipped_settings(cache_dir: Path, **overrides: Any) -> Settings:
    present = [name for name in SHIPPED_MODELS if shipped_weights_dir(name) is not None]
    if len(present) < 2:
        pytest.skip("the page's tests need both shipped models' weights in models/weights/")
    values: dict[str, Any] = {"cache_dir": cache_dir, "decoder_workers": 2, "max_wait_ms": 5.0}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def shipped_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models' bundles, exported on the first start and shared with tests/service."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("vtserve-shipped-bundles")) if cache else tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="module")
def site(shipped_cache: Path) -> Iterator[str]:
    """The service on loopback with both shipped models (divided vs factorised attention)."""
    with serve_in_thread(create_app(shipped_settings(shipped_cache))) as base_url:
        yield base_url


@contextmanager
def serve_starting(app: Any) -> Iterator[str]:
    """Like serve_in_thread, but yields as soon as the server listens, before the models are ready."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-web-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


def motion_mp4(labels: list[str], seconds_each: float = 3.0, size: int = 128, fps: float = 8.0) -> bytes:
    """An H.264 clip of the demo task's classes one after another (easy clips, fixed seeds)."""
    from models.demo.encode import write_mp4
    from models.demo.motion import generate_clip

    frames = int(seconds_each * fps)
    parts = [
        generate_clip(label, 100 + i, num_frames=frames, height=size, width=size, difficulty=0.2)
        for i, label in enumerate(labels)
    ]
    data = write_mp4(np.concatenate(parts), None, fps=fps, crf=12)
    assert data is not None
    return data


def models_listed(base_url: str, api_key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    answer: dict[str, Any] = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=30).json()
    return answer
