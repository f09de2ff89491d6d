"""The timeline of a long video, drawn while `POST /v1/timelines` streams its NDJSON lines.

Runs when the service has that endpoint (issue 17); until then it is skipped, and the page hides the mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from service.app import create_app
from tests.service.conftest import serve_in_thread
from tests.web.conftest import Watched, motion_mp4, shipped_settings

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = pytest.mark.timeout(300)
TIMELINES = "/v1/timelines"

# Records each change of the view's window count and state, with the time, as the page renders them.
RECORD = """(() => {
  const view = document.getElementById('timeline');
  window.__timeline = [];
  new MutationObserver(() => window.__timeline.push(
    [performance.now(), Number(view.dataset.windows || 0), view.dataset.state || ''])
  ).observe(view, { attributes: true, attributeFilter: ['data-windows', 'data-state'] });
})()"""


def has_timelines(app: FastAPI) -> bool:
    # `app.routes` lists included routers, not their routes (FastAPI 0.165): ask the OpenAPI document
    return "post" in app.openapi()["paths"].get(TIMELINES, {})


@pytest.fixture(scope="module")
def timeline_site(shipped_cache: Path) -> Iterator[str]:
    app = create_app(shipped_settings(shipped_cache))
    if not has_timelines(app):
        pytest.skip(
            f"POST {TIMELINES} is not in this service yet (issue 17): the page hides its timeline mode"
        )
    with serve_in_thread(app) as base_url:
        yield base_url


def test_a_long_clip_fills_the_timeline_while_it_streams(
    timeline_site: str, open_page: Callable[..., Watched], tmp_path: Path
) -> None:
    clip = tmp_path / "three_actions.mp4"
    clip.write_bytes(motion_mp4(["moving_right", "growing", "moving_left"], seconds_each=10.0))
    watched = open_page(timeline_site)
    page = watched.page
    expect(page.locator("#model-a")).to_be_enabled(timeout=30_000)
    page.get_by_label("Timeline of a long video").check()
    page.get_by_label("Window (s)").fill("2")
    page.get_by_label("Stride (s)").fill("1")
    page.set_input_files("#file", str(clip))
    page.evaluate(RECORD)
    page.get_by_role("button", name="Build timeline").click()
    view = page.locator("#timeline")
    expect(view).to_have_attribute("data-state", "done", timeout=120_000)
    total = int(view.get_attribute("data-windows") or 0)
    assert total >= 20
    seen = page.evaluate("window.__timeline")
    partial = [count for _, count, state in seen if 0 < count < total and state != "done"]
    assert partial, f"the view jumped straight to {total} windows: nothing was drawn while streaming"
    expect(view.locator(".band .segment").first).to_be_visible()
    expect(view.locator(".band")).not_to_have_class("band provisional")
    assert view.locator(".prob-chart polyline").count() >= 1
    expect(view.locator("button.window")).to_have_count(total)
    view.locator("button.window").nth(3).click()
    details = view.locator(".window-details")
    expect(details).to_contain_text("Window 3")
    expect(details.locator(".label-bar").first).to_be_visible()
    expect(details.locator("canvas").first).to_be_visible()  # H.264: the browser shows the window's frames
    watched.screenshot("web-timeline")
    assert watched.unexpected_errors() == []
