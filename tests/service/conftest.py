"""Fixtures for the service tests: a real exported bundle, and uvicorn serving an app on loopback."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from service.settings import Settings


def _build_tiny_bundle(out_dir: Path) -> Path:
    """A real bundle exported from a saved checkpoint of the models package's tiny TimeSformer
    (random weights, 4 frames of 32×32). The checkpoint stays beside the bundle (`manifest.source`), so
    the torch runtime loads the very same weights."""
    import export
    import models
    from models.registry import create_model

    checkpoint = out_dir.parent / "tiny-checkpoint"
    for path in (out_dir, checkpoint):
        if path.exists():
            shutil.rmtree(path)
    models.save_pretrained(create_model("timesformer_tiny").eval(), checkpoint)
    export.build_bundle(checkpoint, out_dir)
    return out_dir


def _source_digest() -> str:
    """A hash of the code a bundle is built from, so a cached bundle is rebuilt when that code changes."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in ("models", "export"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.as_posix().encode())
            digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle, cached in .pytest_cache by a hash of models/ and export/ (a build takes ~10-30 s)."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return _build_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")
    folder = cache.mkdir(f"vtserve-tiny-{_source_digest()}") / "tiny"
    if not (folder / "model.json").is_file():
        for stale in folder.parent.parent.glob("vtserve-tiny-*"):
            if stale != folder.parent:
                shutil.rmtree(stale, ignore_errors=True)
        _build_tiny_bundle(folder)
    return folder


@pytest.fixture()
def make_settings(tiny_bundle: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "models": [str(tiny_bundle)],
            "cache_dir": tmp_path / "cache",
            "decoder_workers": 2,
            "max_wait_ms": 5.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base_url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=5)
            if response.status_code == 200:
                return
            last = response.json()
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} not ready after {timeout_s}s: {last}")


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 in a thread (real HTTP); yields the base URL once ready."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        wait_ready(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(60)


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`{labels: value}` for one metric in Prometheus text format (labels as written, '' when none)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key[len(name) :]] = float(value)
    return out
