"""`POST /v1/timelines` over real HTTP on the shipped models, with real decoding.

The video is assembled from `motion` clips of known classes at known times (8 s each; 4 s windows see
half of a motion). The classes are the ones the shipped motion-vivit labels reliably in such windows
(1.00 of windows inside a segment over three seeds, measured when this test was written); rotation and
fading are left out (0.67-0.89 there).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from service.app import create_app
from service.bundles import shipped_weights_dir
from service.settings import SHIPPED_MODELS, Settings
from tests.service.conftest import free_port, metric_samples, serve_in_thread, wait_ready
from tests.service.long_video import Truth, assemble

SEGMENTS = [
    ("moving_right", 8.0),
    ("growing", 8.0),
    ("fading_in", 8.0),  # static: the v2 models call 18 % of still issue-9 objects something else
    ("moving_up", 8.0),
    ("shrinking", 8.0),
    ("moving_left", 8.0),
]
MODEL = "motion-vivit"
MP4 = {"Content-Type": "video/mp4"}


@pytest.fixture(scope="module")
def spool_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def app_server(
    request: pytest.FixtureRequest, spool_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    if any(shipped_weights_dir(name) is None for name in SHIPPED_MODELS):
        pytest.skip("the shipped weights are not in models/weights/")
    cache = getattr(request.config, "cache", None)
    cache_dir = cache.mkdir("vtserve-shipped-bundles") if cache else tmp_path_factory.mktemp("bundles")
    settings = Settings(
        cache_dir=cache_dir,
        decoder_workers=2,
        max_wait_ms=5.0,
        spool_dir=spool_dir,
        timeline_max_windows=400,
        timeline_max_duration_s=60.0,
        timeline_max_upload_bytes=4 * 1024 * 1024,
    )
    app = create_app(settings)
    with serve_in_thread(app) as base_url:
        yield app, base_url


@pytest.fixture(scope="module")
def server(app_server: tuple[Any, str]) -> str:
    return app_server[1]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[Truth]]:
    path = tmp_path_factory.mktemp("videos") / "long.mp4"
    truth = assemble(SEGMENTS, path)
    return path.read_bytes(), truth


def _stream(base: str, data: bytes, **params: Any) -> Iterator[tuple[float, dict[str, Any]]]:
    """(arrival time, parsed line) for each line of a timeline stream."""
    with httpx.stream(
        "POST", f"{base}/v1/timelines", params=params, content=data, headers=MP4, timeout=60
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "application/x-ndjson"
        for line in response.iter_lines():
            yield time.monotonic(), json.loads(line)


def test_windows_stream_in_order_and_segments_follow_the_known_boundaries(
    server: str, video: tuple[bytes, list[Truth]], spool_dir: Path
) -> None:
    data, truth = video
    lines: list[dict[str, Any]] = []
    seen_early: dict[str, Any] | None = None
    for _, line in _stream(server, data, model=MODEL, window_s=4.0, stride_s=0.5):
        lines.append(line)
        if line["type"] == "window" and seen_early is None:  # what the server has when line 1 arrives
            seen_early = httpx.get(f"{server}/v1/timelines/{lines[0]['id']}").json()
    head, windows, segments, done = lines[0], lines[1:-2], lines[-2], lines[-1]
    duration = head["clip"]["duration_s"]
    assert head["type"] == "timeline" and head["model"]["name"] == MODEL
    assert duration == pytest.approx(48.0) and (head["window_s"], head["stride_s"]) == (4.0, 0.5)
    assert head["windows"] == len(windows) == 89
    # the first window line arrived while most windows were still to be computed
    assert seen_early is not None and not seen_early["complete"] and len(seen_early["windows"]) < 45

    assert [w["index"] for w in windows] == list(range(89)) and all(w["type"] == "window" for w in windows)
    starts = [w["start_s"] for w in windows]
    assert starts == sorted(starts) and starts[0] == 0.0 and windows[-1]["end_s"] == pytest.approx(duration)
    assert all(b["start_s"] <= a["end_s"] for a, b in itertools.pairwise(windows))  # no gaps
    for w in windows:
        assert all(w["start_s"] <= t < w["end_s"] for t in w["timestamps_s"]) and len(w["timestamps_s"]) == 8
        assert sum(w["frame_importance"]) == pytest.approx(1.0) and len(w["frame_importance"]) == 4
        scores = [label["score"] for label in w["labels"]]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)

    assert segments["type"] == "segments" and done["type"] == "done"
    parts = segments["segments"]
    assert parts[0]["start_s"] == 0.0 and parts[-1]["end_s"] == pytest.approx(duration)
    assert all(a["end_s"] == pytest.approx(b["start_s"]) for a, b in itertools.pairwise(parts))
    tolerance = head["window_s"] / 2 + head["stride_s"] / 2  # how far a window's centre is from its edges
    for known in truth:
        middle = (known.start_s + known.end_s) / 2
        found = next(s for s in parts if s["start_s"] <= middle < s["end_s"])
        assert found["label"] == known.label, (known, parts)
        assert abs(found["start_s"] - known.start_s) <= tolerance, (known, found)
        assert abs(found["end_s"] - known.end_s) <= tolerance, (known, found)
    assert set(done["timings_ms"]) == {"upload", "first_window", "decode", "queue", "inference", "total"}

    document = httpx.get(f"{server}/v1/timelines/{head['id']}").json()
    assert document["complete"] and document["error"] is None
    assert document["windows"] == windows and document["segments"] == parts
    assert {k: document[k] for k in ("id", "model", "clip", "window_s", "stride_s")} == {
        k: head[k] for k in ("id", "model", "clip", "window_s", "stride_s")
    }
    png = httpx.get(f"{server}/v1/timelines/{head['id']}/timeline.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (1200, 412)
    assert list(spool_dir.iterdir()) == []  # the spooled upload is gone


def test_multipart_upload_with_the_model_defaults(server: str, video: tuple[bytes, list[Truth]]) -> None:
    data, _ = video
    files = {"file": ("long.mp4", data, "video/mp4")}
    response = httpx.post(f"{server}/v1/timelines", files=files, params={"top_k": 2}, timeout=60)
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    head = lines[0]
    # the default model is uniformly sampled: the configured window, half of it as the stride
    assert head["model"]["name"] == "motion-timesformer" and (head["window_s"], head["stride_s"]) == (
        4.0,
        2.0,
    )
    assert head["windows"] == 23 and [line["type"] for line in lines[-2:]] == ["segments", "done"]
    assert all(len(line["labels"]) == 2 for line in lines[1:-2])


def test_refusals_come_before_the_stream_and_leave_nothing_behind(
    server: str, video: tuple[bytes, list[Truth]], spool_dir: Path, tmp_path: Path
) -> None:
    data, _ = video
    too_many = httpx.post(f"{server}/v1/timelines", params={"stride_s": 0.1}, content=data, headers=MP4)
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_windows"
    long_path = tmp_path / "long.mp4"
    assemble([("static", 35.0), ("static", 35.0)], long_path, fps=4, width=64, height=48)
    too_long = httpx.post(f"{server}/v1/timelines", content=long_path.read_bytes(), headers=MP4)
    assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "clip_too_long"
    big = httpx.post(f"{server}/v1/timelines", content=b"\0" * (5 * 1024 * 1024), headers=MP4)
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    junk = httpx.post(f"{server}/v1/timelines", content=b"not a video" * 100, headers=MP4)
    assert junk.status_code == 415 and junk.json()["error"]["code"] == "unsupported_media"
    bad = httpx.post(f"{server}/v1/timelines", params={"window_s": 0}, content=data, headers=MP4)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert httpx.get(f"{server}/v1/timelines/{'x' * 22}").status_code == 404
    assert list(spool_dir.iterdir()) == []


def test_a_client_that_disconnects_stops_the_decoding(
    app_server: tuple[Any, str], video: tuple[bytes, list[Truth]], spool_dir: Path
) -> None:
    app, server = app_server
    data, _ = video

    def windows_done() -> float:
        samples = metric_samples(httpx.get(f"{server}/metrics").text, "vtserve_timeline_windows_total")
        return samples.get(f'{{model="{MODEL}"}}', 0.0)

    before = windows_done()
    received = 0
    timeline_id = ""
    for _, line in _stream(server, data, model=MODEL, window_s=2.0, stride_s=0.25):
        timeline_id = timeline_id or line.get("id", "")
        received += line["type"] == "window"
        if received == 3:
            break  # leaving the `with` closes the connection mid-stream
    pool = app.state.service.decoder
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and (pool.idle_workers < 2 or list(spool_dir.iterdir())):
        time.sleep(0.05)
    assert pool.idle_workers == 2 and list(spool_dir.iterdir()) == []  # worker back, upload removed
    settled = windows_done()
    time.sleep(0.5)
    assert windows_done() == settled < before + 185 - 10  # decoding stopped; most windows never ran
    text = httpx.get(f"{server}/metrics").text
    assert metric_samples(text, "vtserve_timelines_in_progress") == {"": 0.0}
    cancelled = metric_samples(text, "vtserve_timeline_windows_cancelled_total")
    assert cancelled[f'{{model="{MODEL}",reason="cancelled"}}'] > 100
    document = httpx.get(f"{server}/v1/timelines/{timeline_id}").json()
    assert not document["complete"] and document["error"]["code"] == "cancelled"


def test_sigterm_ends_a_stream_in_flight_cleanly(
    request: pytest.FixtureRequest, video: tuple[bytes, list[Truth]], tmp_path: Path
) -> None:
    """A real `vtserve serve` process: SIGTERM while a timeline streams ends the stream after the current
    window with a retryable error line, and the server exits without a traceback."""
    cache = getattr(request.config, "cache", None)
    if cache is None or any(shipped_weights_dir(name) is None for name in SHIPPED_MODELS):
        pytest.skip("needs the shipped bundles exported by the module's server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VTSERVE_")}
    env["VTSERVE_SPOOL_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "service.commands.serve", "--port", str(port), "--models", MODEL]
    command += ["--cache-dir", str(cache.mkdir("vtserve-shipped-bundles"))]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    lines: list[dict[str, Any]] = []
    try:
        wait_ready(base_url)
        for _, line in _stream(base_url, video[0], window_s=2.0, stride_s=0.25):
            lines.append(line)
            if len(lines) == 4:
                proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    log = proc.stdout.read().decode() if proc.stdout else ""
    assert lines[-1]["type"] == "error", lines[-1]
    assert lines[-1]["error"]["code"] == "not_ready" and lines[-1]["error"]["retryable"]
    assert 4 <= len(lines) < lines[0]["windows"]  # stopped early, after the window in progress
    assert "Traceback" not in log and "stopped" in log, log
    assert list(tmp_path.iterdir()) == []


def test_openapi_documents_the_stream_and_its_errors(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    post = spec["paths"]["/v1/timelines"]["post"]
    example = post["responses"]["200"]["content"]["application/x-ndjson"]["example"]
    kinds = [json.loads(line)["type"] for line in example.splitlines()]
    assert kinds[0] == "timeline" and kinds[-2:] == ["segments", "done"] and "window" in kinds
    assert {"400", "404", "413", "415", "422", "503"} <= set(post["responses"])
    assert {p["name"] for p in post["parameters"]} == {"model", "window_s", "stride_s", "top_k", "attention"}
    assert "/v1/timelines/{timeline_id}/timeline.png" in spec["paths"]
