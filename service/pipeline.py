"""One prediction, end to end and transport-free: admit → decode → batch → postprocess.

Used by the HTTP routes and by `vtserve predict` alike. Decoding runs in the decoder pool (worker
processes), inference on the model's batcher thread; the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from service.decoding.types import DecodedClip, DecodeRequest
from service.errors import InferenceTimeout, Overloaded, VideoDecodeError
from service.metrics import Metrics
from service.postprocess import (
    frame_importance,
    normalise_rows,
    softmax,
    token_frames,
    token_timestamps,
    top_k,
)
from service.registry import LoadedModel, ModelRegistry


class Decoder(Protocol):
    async def decode(self, data: bytes, request: DecodeRequest) -> DecodedClip: ...


@dataclass(frozen=True, kw_only=True)
class ClipSummary:
    duration_s: float
    fps: float
    width: int
    height: int
    rotation: int
    stream: int
    frame_indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Milliseconds."""

    upload: float
    decode: float
    queue: float
    inference: float
    postprocess: float
    total: float


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """A stored result. `frames`/`spatial`/`token_timestamps` have one entry per temporal token."""

    model: str
    version: str
    labels: tuple[tuple[str, float], ...]
    clip: ClipSummary
    temporal: NDArray[np.float64] | None  # [T', T'], rows sum to 1
    importance: tuple[float, ...] | None  # [T'], sums to 1
    token_timestamps: tuple[float, ...]
    frames: NDArray[np.uint8]  # [T', H, W, 3]
    spatial: NDArray[np.float32] | None  # [T', h, w]
    timings_ms: Timings


class Admission:
    """Caps requests in progress per model (uploading, decoding, queued or in inference).

    `admit` checks and increments under a lock, with no `await` in between, so the cap cannot race.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, model: str) -> Iterator[None]:
        with self._lock:
            count = self._counts.get(model, 0)
            if count >= self._limit:
                raise Overloaded(f"model {model!r} is at capacity ({self._limit} requests); retry later")
            self._counts[model] = count + 1
        try:
            yield
        finally:
            with self._lock:
                self._counts[model] -= 1

    def count(self, model: str) -> int:
        return self._counts.get(model, 0)


def summarise_clip(clip: DecodedClip) -> ClipSummary:
    return ClipSummary(
        duration_s=float(clip.duration_s),
        fps=float(clip.fps),
        width=int(clip.width),
        height=int(clip.height),
        rotation=int(clip.rotation),
        stream=int(clip.stream_index),
        frame_indices=tuple(int(i) for i in clip.indices),
        timestamps_s=tuple(float(t) for t in clip.timestamps_s),
    )


def build_prediction(
    model: LoadedModel,
    clip: DecodedClip,
    logits: NDArray[np.float32],
    temporal: NDArray[np.float32] | None,
    spatial: NDArray[np.float32] | None,
    *,
    k: int,
    attention: bool,
    timings: Timings,
) -> Prediction:
    """Scores, top-k labels, frame importance and the frames kept for heatmaps."""
    manifest = model.manifest
    tubelet = manifest.tubelet_size
    scores = softmax(logits)
    picks = token_frames(len(clip.timestamps_s), tubelet)
    rows = normalise_rows(temporal) if attention and temporal is not None else None
    return Prediction(
        model=model.name,
        version=manifest.version,
        labels=tuple(top_k(scores, manifest.labels, k)),
        clip=summarise_clip(clip),
        temporal=rows,
        importance=None if rows is None else tuple(float(x) for x in frame_importance(rows)),
        token_timestamps=tuple(token_timestamps(clip.timestamps_s, tubelet)),
        frames=np.ascontiguousarray(clip.frames[picks]),
        spatial=None if not attention or spatial is None else np.array(spatial, dtype=np.float32),
        timings_ms=timings,
    )


class Predictor:
    """Runs predictions against a model registry and a decoder, recording metrics."""

    def __init__(
        self,
        registry: ModelRegistry,
        decoder: Decoder,
        *,
        metrics: Metrics | None = None,
        max_in_progress: int = 64,
        inference_timeout_s: float = 120.0,
    ) -> None:
        self.registry = registry
        self.decoder = decoder
        self.metrics = metrics
        self.admission = Admission(max_in_progress)
        self.inference_timeout_s = inference_timeout_s

    async def run(
        self,
        model: LoadedModel,
        data: bytes,
        *,
        k: int = 5,
        attention: bool = True,
        started: float | None = None,
        upload_s: float = 0.0,
    ) -> Prediction:
        """Decode `data` and classify it with `model` (the caller holds an admission slot)."""
        started = time.perf_counter() if started is None else started
        t0 = time.perf_counter()
        try:
            clip = await self.decoder.decode(data, model.decode_request)
        except VideoDecodeError as exc:
            if self.metrics is not None:
                self.metrics.decode_failures.labels(code=exc.code).inc()
            raise
        decode_s = time.perf_counter() - t0
        future = model.batcher.submit(clip.frames)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.inference_timeout_s)
        except TimeoutError:
            future.cancel()
            raise InferenceTimeout() from None
        t1 = time.perf_counter()
        ms = 1000.0
        partial = Timings(
            upload=upload_s * ms,
            decode=decode_s * ms,
            queue=result.queue_s * ms,
            inference=result.inference_s * ms,
            postprocess=0.0,
            total=0.0,
        )
        prediction = build_prediction(
            model,
            clip,
            result.logits,
            result.temporal,
            result.spatial,
            k=k,
            attention=attention,
            timings=partial,
        )
        t2 = time.perf_counter()
        timings = Timings(
            upload=partial.upload,
            decode=partial.decode,
            queue=partial.queue,
            inference=partial.inference,
            postprocess=(t2 - t1) * ms,
            total=(t2 - started) * ms,
        )
        if self.metrics is not None:
            for stage, seconds in (
                ("upload", upload_s),
                ("decode", decode_s),
                ("queue", result.queue_s),
                ("inference", result.inference_s),
                ("postprocess", t2 - t1),
            ):
                self.metrics.observe_stage(model.name, stage, seconds)
        return replace(prediction, timings_ms=timings)
