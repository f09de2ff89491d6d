"""The page at `/` in a real headless Chromium against the real service (both shipped models)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.web.conftest import PHONE, Watched, models_listed, motion_mp4

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.timeout(300)

ALL_LOADED = (
    "(() => { const imgs = [...document.querySelectorAll('{sel}')];"
    " return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0); })()"
)


def ready(watched: Watched) -> Page:
    expect(watched.page.locator("#model-a")).to_be_enabled(timeout=30_000)
    return watched.page


def run_clip(page: Page, clip: Path, button: str = "Classify") -> None:
    page.set_input_files("#file", str(clip))
    page.get_by_role("button", name=button).click()


def panel(page: Page, model: str) -> Locator:
    return page.locator(f'article.result[data-model="{model}"]')


def heatmaps_loaded(watched: Watched, model: str) -> None:
    watched.wait_until(ALL_LOADED.replace("{sel}", f'article[data-model="{model}"] img.heat'))


def test_page_loads_with_no_console_errors(site: str, open_page: Callable[..., Watched]) -> None:
    watched = open_page(site)
    page = ready(watched)
    listed = models_listed(site)
    names = page.eval_on_selector_all("#model-a option", "(options) => options.map((o) => o.value)")
    assert names == [m["name"] for m in listed["models"]]
    assert page.input_value("#model-a") == listed["default"]
    facts = page.inner_text("#model-a-facts")
    default = next(m for m in listed["models"] if m["name"] == listed["default"])
    assert default["architecture"] in facts and default["attention"] in facts
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input, select, button')]
            .filter((c) => !c.labels?.length && !c.getAttribute('aria-label') && !c.textContent.trim())
            .map((c) => c.outerHTML)"""
    )
    assert unlabelled == []
    page.wait_for_timeout(300)  # let the OpenAPI probe and the icon finish
    watched.screenshot("web-loaded")
    assert watched.unexpected_errors() == []


def test_a_clip_gives_the_models_labels_and_a_loaded_heatmap(
    site: str, open_page: Callable[..., Watched], media: Callable[[str], Path]
) -> None:
    watched = open_page(site)
    page = ready(watched)
    model = page.input_value("#model-a")
    with page.expect_response(lambda r: "/v1/predictions?" in r.url and r.request.method == "POST") as sent:
        run_clip(page, media("nasa_13013.mp4"))
    answer = sent.value.json()
    result = panel(page, model)
    expect(result.locator(".label-bar")).to_have_count(5)
    shown = result.locator(".label-name").all_inner_texts()
    assert shown == [item["label"].replace("_", " ") for item in answer["labels"]]
    vocabulary = next(m["labels"] for m in models_listed(site)["models"] if m["name"] == model)
    assert {item["label"] for item in answer["labels"]} <= set(vocabulary)
    heatmaps_loaded(watched, model)
    sources = result.locator("img.heat").evaluate_all("(imgs) => imgs.map((i) => i.src)")
    assert len(sources) == len(answer["attention"]["timestamps_s"])
    assert all(src.startswith("blob:") for src in sources)
    # H.264: Chromium decodes the clip itself, so each tile has the raw frame under the overlay
    expect(result.locator(".raw canvas")).to_have_count(len(sources))
    expect(result.locator(".matrix td")).to_have_count(len(sources) ** 2)
    expect(result.locator(".importance-cell")).to_have_count(len(sources))
    expect(result.locator(".facts")).to_contain_text(["13.01 s"])
    watched.screenshot("web-result")
    heat = result.locator("img.heat").first
    result.get_by_label("Overlay opacity").fill("20")
    assert heat.evaluate("(i) => getComputedStyle(i).opacity") == "0.2"
    result.get_by_label("Show spatial attention").uncheck()
    expect(heat).to_be_hidden()
    assert watched.unexpected_errors() == []


def test_an_audio_file_shows_the_apis_error(
    site: str, open_page: Callable[..., Watched], media: Callable[[str], Path]
) -> None:
    clip = media("sine_mono_s16.wav")
    direct = httpx.post(f"{site}/v1/predictions", files={"file": (clip.name, clip.read_bytes())}, timeout=60)
    error = direct.json()["error"]
    assert direct.status_code == 422 and error["code"] == "no_video_stream"
    watched = open_page(site)
    page = ready(watched)
    run_clip(page, clip)
    message = page.get_by_role("alert")
    expect(message).to_contain_text(error["message"])
    expect(message).to_contain_text("no_video_stream")
    expect(page.locator(".job.failed")).to_have_count(1)
    expect(page.get_by_role("button", name="Classify")).to_be_enabled()
    watched.screenshot("web-error-audio")
    assert watched.unexpected_errors(422) == []


def test_two_models_side_by_side(site: str, open_page: Callable[..., Watched], tmp_path: Path) -> None:
    clip = tmp_path / "moving_right.mp4"
    clip.write_bytes(motion_mp4(["moving_right"]))
    listed = models_listed(site)["models"]
    watched = open_page(site)
    page = ready(watched)
    page.get_by_label("Compare two models").check()
    page.select_option("#model-a", listed[0]["name"])
    page.select_option("#model-b", listed[1]["name"])
    run_clip(page, clip, button="Compare")
    for model in listed[:2]:
        result = panel(page, model["name"])
        expect(result.locator(".label-bar")).to_have_count(5)
        expect(result.locator(".model-facts")).to_contain_text(model["attention"])
        heatmaps_loaded(watched, model["name"])
    boxes = [panel(page, m["name"]).bounding_box() for m in listed[:2]]
    assert boxes[0] and boxes[1] and boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"], "not side by side"
    watched.screenshot("web-compare")
    assert watched.unexpected_errors() == []


def test_readable_and_keyboard_usable_at_360_px(
    site: str, open_page: Callable[..., Watched], media: Callable[[str], Path]
) -> None:
    watched = open_page(site, viewport=PHONE)
    page = ready(watched)
    page.set_input_files("#file", str(media("video_90.mov")))
    page.focus("#file")
    for _ in range(10):  # from the file input, Tab reaches the run button and Enter runs it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "run":
            break
    assert page.evaluate("document.activeElement.id") == "run"
    page.keyboard.press("Enter")
    model = page.input_value("#model-a")
    heatmaps_loaded(watched, model)
    expect(panel(page, model).locator(".facts")).to_contain_text(["90°"])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
        "the page scrolls sideways"
    )
    first = panel(page, model).locator(".matrix td").first
    first.focus()
    page.keyboard.press("ArrowRight")
    readout = panel(page, model).locator(".readout")
    expect(readout).to_contain_text(re.compile(r"frame 0 .* attends to frame 1 .*: 0\.\d{3}"))
    watched.screenshot("web-phone")
    assert watched.unexpected_errors() == []


def test_a_dropped_clip_is_classified(
    site: str, open_page: Callable[..., Watched], media: Callable[[str], Path]
) -> None:
    clip = media("h264_10bits.mp4")
    watched = open_page(site)
    page = ready(watched)
    dropped = page.evaluate_handle(
        """([name, bytes]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], name, { type: 'video/mp4' }));
            return data;
        }""",
        [clip.name, list(clip.read_bytes())],
    )
    page.locator("#drop").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.locator("#file-facts")).to_contain_text(clip.name)
    page.get_by_role("button", name="Classify").click()
    model = page.input_value("#model-a")
    expect(panel(page, model).locator(".label-bar")).to_have_count(5)
    heatmaps_loaded(watched, model)
    assert watched.unexpected_errors() == []
