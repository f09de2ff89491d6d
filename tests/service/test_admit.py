"""Admission from the headers, over real HTTP (uvicorn on loopback, the tiny bundle, real decoding).

A refused upload is answered 503 + Retry-After before any of its body exists: these tests send the headers
alone (declaring a large body) on a raw socket and get the answer, which no server that read the body
could give. An admitted request holds its slot from its headers until its answer.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from service.admission import Admission, admission_limit
from service.app import create_app
from service.settings import Settings
from service.state import ServiceState
from tests.service.conftest import metric_samples, serve_in_thread

MODEL = "tiny"
VIDEO = {"Content-Type": "video/mp4"}


@dataclass(frozen=True)
class Server:
    url: str
    app: FastAPI

    @property
    def state(self) -> ServiceState:
        state: ServiceState = self.app.state.service
        return state

    @property
    def admission(self) -> Admission:
        return self.state.require_ready().admission


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = Settings(
        models=[str(tiny_bundle)],
        cache_dir=tmp_path_factory.mktemp("cache"),
        decoder_workers=1,
        max_in_flight=1,
        admission_wait_ms=0.0,  # refused at once (waiting for a slot: test_admission_wait)
        max_timelines=1,
        max_wait_ms=5.0,
    )
    app = create_app(settings)
    with serve_in_thread(app) as url:
        yield Server(url, app)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_answer(sock: socket.socket) -> Answer:
    """One HTTP/1.1 response with a Content-Length (what the service sends for these answers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        rest += chunk
    return Answer(int(lines[0].split()[1]), headers, rest[:length])


def _headers(path: str, length: int, content_type: str = "video/mp4", *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: test",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
    ]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def _upload_count(url: str) -> float:
    samples = metric_samples(httpx.get(f"{url}/metrics").text, "vtserve_stage_duration_seconds_count")
    return sum(v for k, v in samples.items() if 'stage="upload"' in k)


def test_a_refused_upload_is_answered_from_its_headers_and_its_body_dropped(server: Server) -> None:
    uploads = _upload_count(server.url)
    with server.admission.admit(MODEL), _connect(server.url) as sock:
        declared = 2_000_000
        sock.sendall(_headers("/v1/predictions", declared))  # the body does not exist yet
        answer = _read_answer(sock)
        assert answer.status == 503 and answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == {
            "code": "overloaded",
            "message": f"model {MODEL!r} is at capacity (1 requests); retry later",
            "retryable": True,
        }
        # the client may still send the body: it is dropped and the connection stays usable
        sock.sendall(b"\0" * declared + b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert _read_answer(sock).status == 200
    assert _upload_count(server.url) == uploads  # nothing was read for the refused request
    text = httpx.get(f"{server.url}/metrics").text
    assert metric_samples(text, "vtserve_request_errors_total")[f'{{code="overloaded",model="{MODEL}"}}'] >= 1


def test_expect_100_continue_gets_the_503_instead_and_the_connection_closes(server: Server) -> None:
    with server.admission.admit(MODEL), _connect(server.url) as sock:
        sock.sendall(_headers("/v1/predictions", 50_000_000, "video/mp4", "Expect: 100-continue"))
        answer = _read_answer(sock)  # no interim 100 Continue: the final answer comes first
        assert answer.status == 503 and answer.headers["connection"] == "close"
        assert _closed(sock)


def test_v2_infer_is_refused_from_its_headers_in_the_protocols_shape(server: Server) -> None:
    with server.admission.admit(MODEL), _connect(server.url) as sock:
        sock.sendall(_headers(f"/v2/models/{MODEL}/infer", 5_000_000, "application/json"))
        answer = _read_answer(sock)
        assert answer.status == 503 and answer.headers["retry-after"] == "1"
        assert answer.json() == {"error": f"model {MODEL!r} is at capacity (1 requests); retry later"}


def test_a_timeline_is_refused_from_its_headers_when_none_may_start(server: Server) -> None:
    lease = server.state.timelines.lease()  # the one timeline place
    try:
        with _connect(server.url) as sock:
            sock.sendall(_headers("/v1/timelines", 50_000_000))
            answer = _read_answer(sock)
        assert answer.status == 503 and answer.json()["error"]["code"] == "overloaded"  # type: ignore[index]
    finally:
        lease.release()


def test_an_unknown_model_is_answered_by_the_route_without_its_body(server: Server) -> None:
    with _connect(server.url) as sock:
        sock.sendall(_headers("/v1/predictions?model=nope", 50_000_000))
        answer = _read_answer(sock)
    assert answer.status == 404 and answer.json()["error"]["code"] == "model_not_found"  # type: ignore[index]
    assert server.admission.count(MODEL) == 0


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_an_admitted_request_holds_its_slot_from_its_headers_to_its_answer(
    server: Server, media: Callable[[str], Path]
) -> None:
    clip = media("nasa_13013.mp4").read_bytes()
    half = len(clip) // 2
    with _connect(server.url) as sock:
        sock.sendall(_headers("/v1/predictions", len(clip)) + clip[:half])
        _wait_for(lambda: server.admission.count(MODEL) == 1)  # admitted with half its body unsent
        other = httpx.post(
            f"{server.url}/v1/predictions", content=clip, headers={"Content-Type": "video/mp4"}
        )
        assert other.status_code == 503 and other.json()["error"]["code"] == "overloaded"
        sock.sendall(clip[half:])
        answer = _read_answer(sock)
    assert answer.status == 200, answer.body
    _wait_for(lambda: server.admission.count(MODEL) == 0)
    again = httpx.post(f"{server.url}/v1/predictions", content=clip, headers=VIDEO)
    assert again.status_code == 200


def test_the_admission_limit_follows_the_pipeline_unless_set() -> None:
    assert admission_limit(Settings(models=[])) == 8 * 2 + 2  # max batch 8, two batches, two decoders
    assert admission_limit(Settings(models=[], max_batch_size=4, decoder_workers=3)) == 11
    assert admission_limit(Settings(models=[], max_in_flight=40)) == 40
    assert admission_limit(Settings(models=[], max_in_flight=40, max_queue=32)) == 32  # the batcher's bound


def test_a_slot_is_given_back_once() -> None:
    admission = Admission(2)
    slot = admission.acquire("m")
    admission.acquire("m")
    slot.release()
    slot.release()
    assert admission.count("m") == 1
    with pytest.raises(ValueError):
        Admission(0)
