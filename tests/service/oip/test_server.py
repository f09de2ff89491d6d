"""`/v2` end to end with the real `tritonclient` over real HTTP: uvicorn on 127.0.0.1, the tiny exported
bundle, real onnxruntime, real decoding of shared clips. The server requires an API key throughout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from fastapi import FastAPI
from tritonclient.utils import InferenceServerException

from export.manifest import ONNX_NAME, Manifest, read_manifest
from export.ort_session import open_session, run_session
from service.app import create_app
from service.settings import Settings
from service.state import ServiceState
from tests.service.conftest import metric_samples, serve_in_thread

KEY = "v2-test-key"


def auth() -> dict[str, str]:
    """A new dict per call: tritonclient adds Inference-Header-Content-Length to the headers it is given."""
    return {"Authorization": f"Bearer {KEY}"}


MODEL = "tiny"
CLIP = "h264_10bits.mp4"
OUTPUTS = ("logits", "temporal_attention", "spatial_attention")


@dataclass(frozen=True)
class Server:
    url: str
    app: FastAPI

    @property
    def client(self) -> triton.InferenceServerClient:
        return triton.InferenceServerClient(self.url.removeprefix("http://"), network_timeout=120)

    @property
    def state(self) -> ServiceState:
        state: ServiceState = self.app.state.service
        return state

    def metric(self, name: str, labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics").text
        return metric_samples(text, name).get(labels, 0.0)


@contextlib.contextmanager
def running(tiny_bundle: Path, tmp: Path, **overrides: object) -> Iterator[Server]:
    values: dict[str, object] = {
        "models": [str(tiny_bundle)],
        "cache_dir": tmp,
        "decoder_workers": 2,
        "max_wait_ms": 20.0,
        "max_queue": 4,
        "max_upload_bytes": 1024 * 1024,
        "api_key": KEY,
        **overrides,
    }
    app = create_app(Settings(**values))  # type: ignore[arg-type]
    with serve_in_thread(app) as url:
        yield Server(url, app)


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tiny_bundle, tmp_path_factory.mktemp("cache")) as started:
        yield started


@pytest.fixture(scope="module")
def manifest(tiny_bundle: Path) -> Manifest:
    return read_manifest(tiny_bundle)


def video_of(manifest: Manifest, batch: int, seed: int = 0) -> np.ndarray:
    shape = (batch, *(int(d) for d in manifest.inputs[0].shape[1:]))
    video: np.ndarray = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return video


def infer_video(server: Server, video: np.ndarray, **kw: object) -> triton.InferResult:
    tensor = triton.InferInput("video", list(video.shape), "UINT8").set_data_from_numpy(video)
    return server.client.infer(MODEL, [tensor], headers=auth(), **kw)


def test_health_and_server_metadata(server: Server) -> None:
    client = server.client
    assert client.is_server_live() and client.is_server_ready()  # open, as /healthz and /readyz are
    meta = client.get_server_metadata(headers=auth())
    assert meta["name"] == "vtserve" and set(meta["extensions"]) == {"binary_tensor_data", "classification"}
    assert client.is_model_ready(MODEL, headers=auth())
    assert not client.is_model_ready("no-such-model", headers=auth())


def test_model_metadata_is_the_manifest(server: Server, manifest: Manifest) -> None:
    meta = server.client.get_model_metadata(MODEL, headers=auth())
    dims = [[-1 if isinstance(d, str) else d for d in spec.shape] for spec in manifest.outputs]
    assert meta["name"] == MODEL and meta["versions"] == [manifest.version]
    assert meta["inputs"] == [
        {"name": "video", "datatype": "UINT8", "shape": [-1, *manifest.inputs[0].shape[1:]]},
        {"name": "clip", "datatype": "BYTES", "shape": [-1]},
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in meta["outputs"]] == [
        (spec.name, "FP32", shape) for spec, shape in zip(manifest.outputs, dims, strict=True)
    ]
    assert [o["name"] for o in meta["outputs"]] == list(OUTPUTS)
    assert server.client.get_model_metadata(MODEL, model_version=manifest.version, headers=auth()) == meta


@pytest.mark.parametrize("batch", [1, 3])
def test_video_equals_the_bundles_onnxruntime(
    server: Server, manifest: Manifest, tiny_bundle: Path, batch: int
) -> None:
    video = video_of(manifest, batch, seed=batch)
    expected = run_session(open_session(tiny_bundle / ONNX_NAME), video)
    batches = server.metric("vtserve_batch_size_sum", f'{{model="{MODEL}"}}')
    result = infer_video(server, video)
    assert result.get_response()["model_name"] == MODEL
    for name in OUTPUTS:
        got = result.as_numpy(name)
        assert got is not None and got.dtype == np.float32 and got.shape == expected[name].shape, name
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=1e-5, err_msg=name)
    # each clip of the batch is one batcher item (one admission slot each)
    assert server.metric("vtserve_batch_size_sum", f'{{model="{MODEL}"}}') - batches == batch


def test_video_as_json_with_classification(server: Server, manifest: Manifest, tiny_bundle: Path) -> None:
    video = video_of(manifest, 2, seed=7)
    logits = run_session(open_session(tiny_bundle / ONNX_NAME), video)["logits"]
    tensor = triton.InferInput("video", list(video.shape), "UINT8").set_data_from_numpy(
        video, binary_data=False
    )
    outputs = [triton.InferRequestedOutput("logits", binary_data=False, class_count=2)]
    result = server.client.infer(
        MODEL, [tensor], outputs=outputs, headers=auth(), parameters={"classification": 3}
    )
    top2 = result.as_numpy("logits")
    labels = result.as_numpy("labels")
    assert top2 is not None and top2.shape == (2, 2) and labels is not None and labels.shape == (2, 3)
    for row in range(2):
        best = np.argsort(-logits[row], kind="stable")
        fields = [str(x).split(":") for x in top2[row]]
        assert [int(f[1]) for f in fields] == best[:2].tolist()
        assert [f[2] for f in fields] == [manifest.labels[i] for i in best[:2]]
        np.testing.assert_allclose([float(f[0]) for f in fields], logits[row, best[:2]], atol=2e-6)
        named = [(x.decode() if isinstance(x, bytes) else str(x)).split(":") for x in labels[row]]
        assert [int(f[1]) for f in named] == best[:3].tolist()  # softmax keeps the order of the logits


def test_clip_equals_v1_predictions(server: Server, media: Callable[[str], Path], manifest: Manifest) -> None:
    data = media(CLIP).read_bytes()
    v1 = httpx.post(
        f"{server.url}/v1/predictions",
        params={"top_k": len(manifest.labels)},
        content=data,
        headers={**auth(), "Content-Type": "video/mp4"},
        timeout=120,
    )
    assert v1.status_code == 200, v1.text
    clip = triton.InferInput("clip", [1], "BYTES").set_data_from_numpy(np.array([data], dtype=np.object_))
    outputs = [
        triton.InferRequestedOutput("labels", class_count=len(manifest.labels)),
        triton.InferRequestedOutput("temporal_attention"),
    ]
    result = server.client.infer(MODEL, [clip], outputs=outputs, headers=auth())
    labels = result.as_numpy("labels")
    assert labels is not None
    v2 = [(bytes(x).decode().split(":", 2)[2], float(bytes(x).decode().split(":")[0])) for x in labels[0]]
    expected = [(entry["label"], entry["score"]) for entry in v1.json()["labels"]]
    assert [label for label, _ in v2] == [label for label, _ in expected]
    np.testing.assert_allclose([s for _, s in v2], [s for _, s in expected], atol=2e-6)
    temporal = result.as_numpy("temporal_attention")
    assert temporal is not None
    np.testing.assert_allclose(temporal[0], v1.json()["attention"]["temporal"], atol=1e-5)


def test_refusals_in_the_protocols_shape(server: Server, manifest: Manifest) -> None:
    video = video_of(manifest, 1)
    cases = [
        (lambda: infer_video(server, video[:, :, :, 1:]), "400", "shape"),
        (lambda: infer_video(server, np.zeros((1, 2), dtype=np.uint8)), "400", "shape"),
        (
            lambda: server.client.infer("no-such-model", [_fp32(video)], headers=auth()),
            "404",
            "unknown model",
        ),
        (lambda: server.client.infer(MODEL, [_fp32(video)], headers=auth()), "400", "datatype FP32"),
        (
            lambda: infer_video(server, video, outputs=[triton.InferRequestedOutput("x")]),
            "400",
            "no output 'x'",
        ),
        (lambda: infer_video(server, video_of(manifest, 5)), "400", "at most 4 clips"),
        (lambda: _infer_clip(server, b"not a video"), "415", "unsupported media"),
    ]
    for call, status, words in cases:
        with pytest.raises(InferenceServerException) as caught:
            call()
        assert caught.value.status() == status and words in caught.value.message(), caught.value
    response = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", content=b"{", headers=auth())
    assert response.status_code == 400 and response.json() == {"error": "the infer request is not valid JSON"}


def test_the_body_cap_applies(server: Server) -> None:
    url = f"{server.url}/v2/models/{MODEL}/infer"
    declared = httpx.post(url, content=bytes(2 * 1024 * 1024), headers=auth())
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
        for _ in range(32):
            yield bytes(64 * 1024)

    chunked = httpx.post(url, content=chunks(), headers=auth())
    assert chunked.status_code == 413 and "exceeds" in chunked.json()["error"]


def _fp32(video: np.ndarray) -> triton.InferInput:
    as_float = video.astype(np.float32)
    return triton.InferInput("video", list(as_float.shape), "FP32").set_data_from_numpy(as_float)


def _infer_clip(server: Server, data: bytes) -> triton.InferResult:
    clip = triton.InferInput("clip", [1], "BYTES").set_data_from_numpy(np.array([data], dtype=np.object_))
    return server.client.infer(MODEL, [clip], headers=auth())


def test_api_key_applies(server: Server, manifest: Manifest) -> None:
    for method, path in [
        ("GET", "/v2"),
        ("GET", f"/v2/models/{MODEL}"),
        ("POST", f"/v2/models/{MODEL}/infer"),
    ]:
        response = httpx.request(method, f"{server.url}{path}", headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers, path
        assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)
    with pytest.raises(InferenceServerException) as caught:
        server.client.infer(MODEL, [triton.InferInput("video", [1], "UINT8")])
    assert caught.value.status() == "401"
    assert httpx.get(f"{server.url}/v2/health/live").status_code == 200


def test_overload_counts_one_admission_slot_per_clip(server: Server, manifest: Manifest) -> None:
    """The server's own admission (max_queue 4): with 2 slots held, a batch of 3 is refused, 2 pass."""
    admission = server.state.require_ready().admission
    with contextlib.ExitStack() as held:
        for _ in range(2):
            held.enter_context(admission.admit(MODEL))
        response = httpx.post(
            f"{server.url}/v2/models/{MODEL}/infer",
            json={"inputs": [_json_video(video_of(manifest, 3))]},
            headers=auth(),
        )
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert "capacity" in response.json()["error"]
        logits = infer_video(server, video_of(manifest, 2)).as_numpy("logits")
        assert logits is not None and logits.shape[0] == 2


def _json_video(video: np.ndarray) -> dict[str, object]:
    return {
        "name": "video",
        "shape": list(video.shape),
        "datatype": "UINT8",
        "data": video.reshape(-1).tolist(),
    }


@pytest.fixture(scope="module")
def mixing_server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Batches of 2 that wait up to 5 s for their second clip: two concurrent requests share one batch."""
    with running(
        tiny_bundle, tmp_path_factory.mktemp("cache"), max_batch_size=2, max_wait_ms=5000.0
    ) as started:
        yield started


def test_both_apis_share_a_batch_and_the_metrics(
    mixing_server: Server, manifest: Manifest, media: Callable[[str], Path]
) -> None:
    server = mixing_server
    model = f'{{model="{MODEL}"}}'
    ok = f'{{model="{MODEL}",status="200"}}'
    decodes = f'{{model="{MODEL}",stage="decode"}}'
    before = {
        "requests": server.metric("vtserve_requests_total", ok),
        "batches": server.metric("vtserve_batch_size_count", model),
        "clips": server.metric("vtserve_batch_size_sum", model),
        "decodes": server.metric("vtserve_stage_duration_seconds_count", decodes),
    }
    video = video_of(manifest, 1)
    clip = media(CLIP).read_bytes()

    async def both() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, headers=auth(), timeout=60) as client:
            v1 = client.post("/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"})
            v2 = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": [_json_video(video)]})
            return list(await asyncio.gather(v1, v2))

    started = time.monotonic()
    responses = asyncio.run(both())
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert server.metric("vtserve_requests_total", ok) - before["requests"] == 2
    assert server.metric("vtserve_batch_size_count", model) - before["batches"] == 1  # one batch ...
    assert server.metric("vtserve_batch_size_sum", model) - before["clips"] == 2  # ... of both clips
    assert server.metric("vtserve_stage_duration_seconds_count", decodes) - before["decodes"] == 1
    assert elapsed < 4.5  # the batch closed when its second clip came, not when the 5 s wait ran out
