"""The HTTP API at the ASGI level (TestClient runs the lifespan): real bundle, real decoding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.settings import Settings

MAX_UPLOAD = 2 * 1024 * 1024


def client_for(bundle: Path, cache: Path, **overrides: object) -> TestClient:
    values: dict[str, object] = {
        "models": [str(bundle)],
        "cache_dir": cache,
        "decoder_workers": 1,
        "max_wait_ms": 2.0,
        "max_upload_bytes": MAX_UPLOAD,
    }
    values.update(overrides)
    return TestClient(create_app(Settings(**values), load_in_background=False))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with client_for(tiny_bundle, tmp_path_factory.mktemp("cache")) as c:
        yield c


def test_raw_body_and_multipart_give_the_documented_answer(client: TestClient, media) -> None:  # type: ignore[no-untyped-def]
    data = media("h264_10bits.mp4").read_bytes()
    raw = client.post("/v1/predictions?top_k=3", content=data, headers={"Content-Type": "video/mp4"})
    multi = client.post("/v1/predictions", files={"file": ("any name/../x.mp4", data, "application/weird")})
    for response in (raw, multi):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"id", "model", "labels", "clip", "attention", "links", "timings_ms", "views"}
        scores = [item["score"] for item in body["labels"]]
        assert scores == sorted(scores, reverse=True)
        assert abs(sum(body["attention"]["frame_importance"]) - 1.0) < 1e-6
        for row in body["attention"]["temporal"]:
            assert abs(sum(row) - 1.0) < 1e-6
        assert len(body["clip"]["frame_indices"]) == 4
        assert body["links"]["heatmap"] == f"/v1/predictions/{body['id']}/heatmap.png"
        assert set(body["timings_ms"]) == {"decode", "queue", "inference", "total"}
    assert len(raw.json()["labels"]) == 3 and len(multi.json()["labels"]) == 5
    assert raw.json()["labels"] == multi.json()["labels"][:3]  # same clip, same answer


def test_stored_result_and_heatmaps(client: TestClient, media) -> None:  # type: ignore[no-untyped-def]
    created = client.post(
        "/v1/predictions",
        content=media("video_90.mov").read_bytes(),
        headers={"Content-Type": "video/quicktime"},
    ).json()
    fetched = client.get(created["links"]["self"])
    assert fetched.status_code == 200 and fetched.json() == created
    assert fetched.headers["cache-control"] == "no-store"
    grid = client.get(created["links"]["heatmap"])
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(grid.content))
    assert image.size == (4 * 128, 128)  # 4 temporal tokens of 32×32 in one row
    one = Image.open(io.BytesIO(client.get(created["links"]["heatmap"] + "?frame=3").content))
    assert one.size == (32, 32)
    out_of_range = client.get(created["links"]["heatmap"] + "?frame=4")
    assert out_of_range.status_code == 422 and out_of_range.json()["error"]["code"] == "invalid_request"


def test_attention_can_be_left_out(client: TestClient, media) -> None:  # type: ignore[no-untyped-def]
    data = media("h265_video.mp4").read_bytes()
    body = client.post("/v1/predictions?attention=false", content=data, headers={"Content-Type": "video/mp4"})
    assert body.status_code == 200 and body.json()["attention"] is None
    assert client.get(body.json()["links"]["heatmap"]).status_code == 200  # frames without overlay


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"\x00" * 5000, "video/mp4", 415, "unsupported_media"),
        (b"", "video/mp4", 400, "bad_request"),
        (b"hello", "text/plain", 415, "unsupported_content_type"),
        (b"hello", "", 415, "unsupported_content_type"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n", "video/mp4", 415, None),
    ],
)
def test_refused_uploads(
    client: TestClient, content: bytes, content_type: str, status: int, code: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/predictions", content=content, headers=headers)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code


def test_audio_only_and_corrupt_media(client: TestClient, media) -> None:  # type: ignore[no-untyped-def]
    for name in ("sine_mono_s16.wav", "nasa_13013.mp4.audio.mp3"):
        response = client.post("/v1/predictions", files={"file": (name, media(name).read_bytes())})
        assert 400 <= response.status_code < 500, (name, response.text)
        assert response.json()["error"]["code"] in {"no_video_stream", "unsupported_media"}


def test_oversize_uploads_get_413(client: TestClient) -> None:
    big = b"\x00" * (MAX_UPLOAD + 1)
    raw = client.post("/v1/predictions", content=big, headers={"Content-Type": "video/mp4"})
    assert raw.status_code == 413 and raw.json()["error"]["code"] == "payload_too_large"
    multi = client.post("/v1/predictions", files={"file": ("x.mp4", big)})
    assert multi.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(3):
            yield b"\x00" * (MAX_UPLOAD // 2)

    chunked = client.post("/v1/predictions", content=chunks(), headers={"Content-Type": "video/mp4"})
    assert chunked.status_code == 413


def test_multipart_limits(client: TestClient) -> None:
    missing = client.post("/v1/predictions", files={"other": ("x.mp4", b"123")})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "bad_request"
    two_files = client.post("/v1/predictions", files=[("file", ("a", b"1")), ("file", ("b", b"2"))])
    assert two_files.status_code == 400
    many_fields = client.post(
        "/v1/predictions", data={f"f{i}": "x" for i in range(20)}, files={"file": ("a", b"1")}
    )
    assert many_fields.status_code == 400


def test_models_and_probes(client: TestClient) -> None:
    models = client.get("/v1/models").json()
    (info,) = models["models"]
    assert models["default"] == info["name"] == "tiny"
    assert info["provider"] == "CPUExecutionProvider" and info["runtime"] == "onnxruntime"
    assert info["input"]["shape"] == ["batch", 4, 32, 32, 3] and len(info["labels"]) == 5
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "models": ["tiny"]}


def test_unknown_things_give_404(client: TestClient, media) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/predictions?model=nope",
        content=media("h265_video.mp4").read_bytes(),
        headers={"Content-Type": "video/mp4"},
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    unknown = client.get("/v1/predictions/AAAAAAAAAAAAAAAAAAAAAA")
    garbage = client.get("/v1/predictions/..%2F..%2Fetc")
    assert unknown.status_code == garbage.status_code == 404
    assert unknown.json() == client.get("/v1/predictions/x").json()


def test_bad_query_parameters_give_422(client: TestClient) -> None:
    response = client.post("/v1/predictions?top_k=0", content=b"x", headers={"Content-Type": "video/mp4"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_metrics_count_requests_by_model_and_status(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert 'vtserve_requests_total{model="tiny",status="200"}' in text
    assert 'vtserve_request_errors_total{code="unsupported_media",model="tiny"}' in text
    assert 'vtserve_decode_failures_total{code="unsupported_media"}' in text
    info = (
        'vtserve_model_info{model="tiny",provider="CPUExecutionProvider",runtime="onnxruntime",version="1"}'
    )
    assert info + " 1.0" in text
    assert 'vtserve_stage_duration_seconds_bucket{le="0.005",model="tiny",stage="decode"}' in text
    assert "vtserve_decoder_workers_alive 1.0" in text


def test_api_key(tiny_bundle: Path, tmp_path: Path, media) -> None:  # type: ignore[no-untyped-def]
    with client_for(tiny_bundle, tmp_path, api_key="k3y") as c:
        data = media("h265_video.mp4").read_bytes()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic k3y"}):
            response = c.post(
                "/v1/predictions", content=data, headers={"Content-Type": "video/mp4", **headers}
            )
            assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/v1/models").status_code == 401
        assert c.get("/healthz").status_code == 200  # probes stay open
        ok = c.post(
            "/v1/predictions",
            content=data,
            headers={"Content-Type": "video/mp4", "Authorization": "Bearer k3y"},
        )
        assert ok.status_code == 200
        assert c.get(ok.json()["links"]["self"], headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_not_ready_until_models_load(tiny_bundle: Path, tmp_path: Path) -> None:
    import threading

    from service.loading import load_models

    gate = threading.Event()

    def slow_models(settings: Settings, metrics: Any) -> Any:
        assert gate.wait(30)
        return load_models(settings, metrics)

    settings = Settings(models=[str(tiny_bundle)], cache_dir=tmp_path, decoder_workers=1)
    with TestClient(create_app(settings, models_factory=slow_models)) as c:
        assert c.get("/healthz").status_code == 200
        not_ready = c.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.headers["retry-after"] == "1"
        refused = c.post("/v1/predictions", content=b"x", headers={"Content-Type": "video/mp4"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
        gate.set()
        for _ in range(300):
            if c.get("/readyz").status_code == 200:
                break
            import time

            time.sleep(0.05)
        assert c.get("/readyz").status_code == 200


def test_metrics_can_be_disabled(tiny_bundle: Path, tmp_path: Path) -> None:
    with client_for(tiny_bundle, tmp_path, metrics_enabled=False) as c:
        assert c.get("/metrics").status_code == 404


def test_draining_fails_readiness_and_refuses_new_work(tiny_bundle: Path, tmp_path: Path) -> None:
    with client_for(tiny_bundle, tmp_path) as c:
        assert c.get("/readyz").status_code == 200
        app: Any = c.app
        app.state.service.begin_drain()  # what SIGTERM does first (service.commands.serve.DrainingServer)
        assert c.get("/readyz").status_code == 503
        refused = c.post("/v1/predictions", content=b"x", headers={"Content-Type": "video/mp4"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert c.get("/healthz").status_code == 200  # still alive while draining


def test_failed_model_loading_fails_liveness_without_details(tmp_path: Path) -> None:
    settings = Settings(models=["no-such-model"], cache_dir=tmp_path, decoder_workers=1)
    with TestClient(create_app(settings, load_in_background=False)) as c:
        for path in ("/healthz", "/readyz"):
            response = c.get(path)
            assert response.status_code == 503
            assert response.json()["error"]["message"] == "model loading failed; see the server log"
