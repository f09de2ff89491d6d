"""One prediction, end to end and transport-free: decode → batch → postprocess.

Used by the HTTP routes and by `vtserve predict` alike. The route admits the request first
(`Predictor.admission`, the one admission point), then `Predictor.run` decodes the upload in the decoder
pool (worker processes), runs the clip on the model's batcher thread (`Predictor.infer`) and turns the
outputs into a `Prediction`; the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from service.admission import Admission
from service.batching import ItemResult
from service.decoding.protocol import Decoder
from service.decoding.source import Source
from service.decoding.types import DecodedClip
from service.errors import InferenceTimeout, VideoDecodeError
from service.loaded_models import LoadedModel, LoadedModels
from service.metrics import Metrics
from service.postprocess import (
    frame_importance,
    normalise_rows,
    softmax,
    token_frames,
    token_timestamps,
    top_k,
)
from service.schemas import ClipInfo, Timings, ViewsInfo

MS = 1000.0


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """A stored result. `frames`/`spatial`/`token_timestamps` have one entry per temporal token."""

    model: str
    version: str
    labels: tuple[tuple[str, float], ...]
    clip: ClipInfo
    temporal: NDArray[np.float64] | None  # [T', T'], rows sum to 1
    importance: tuple[float, ...] | None  # [T'], sums to 1
    token_timestamps: tuple[float, ...]
    frames: NDArray[np.uint8]  # [T', H, W, 3]
    spatial: NDArray[np.float32] | None  # [T', h, w]
    timings_ms: Timings
    views: ViewsInfo | None = None  # multi-view (`service.multiview`); None: the one centre view


def summarise_clip(clip: DecodedClip) -> ClipInfo:
    return ClipInfo(
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
    tubelet = manifest.input.tubelet_size
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
    """Runs predictions against the loaded models and a decoder, recording metrics.

    `admission` caps requests in progress per model (callers hold a slot around `run`); `decode` and
    `infer` are the two stages `run` chains, usable on their own (a transport that receives decoded
    clips calls `infer` directly).
    """

    def __init__(
        self,
        models: LoadedModels,
        decoder: Decoder,
        *,
        metrics: Metrics | None = None,
        max_in_progress: int = 64,
        max_waiting: int = 0,
        inference_timeout_s: float = 120.0,
    ) -> None:
        self.models = models
        self.decoder = decoder
        self.metrics = metrics
        self.admission = Admission(max_in_progress, max_waiting=max_waiting)
        self.inference_timeout_s = inference_timeout_s

    async def decode(self, model: LoadedModel, data: Source) -> DecodedClip:
        """Decode an upload (its bytes, or its spooled file) as `model` needs it (counting decode failures
        by code)."""
        try:
            return await self.decoder.decode(data, model.decode_request)
        except VideoDecodeError as exc:
            if self.metrics is not None:
                self.metrics.decode_failures.labels(code=exc.code).inc()
            raise

    async def infer(self, model: LoadedModel, frames: NDArray[np.uint8]) -> ItemResult:
        """One decoded clip `[T, H, W, 3]` through `model`'s batcher; `InferenceTimeout` past the limit."""
        future = model.batcher.submit(frames)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.inference_timeout_s)
        except TimeoutError:
            future.cancel()
            raise InferenceTimeout() from None

    async def run(
        self,
        model: LoadedModel,
        data: Source,
        *,
        k: int = 5,
        attention: bool = True,
        started: float | None = None,
        upload_s: float = 0.0,
    ) -> Prediction:
        """Decode `data` and classify it with `model` (the caller holds an admission slot)."""
        started = time.perf_counter() if started is None else started
        t0 = time.perf_counter()
        clip = await self.decode(model, data)
        decode_s = time.perf_counter() - t0
        result = await self.infer(model, clip.frames)
        t1 = time.perf_counter()
        timings = Timings(
            decode=decode_s * MS, queue=result.queue_s * MS, inference=result.inference_s * MS, total=0.0
        )
        prediction = build_prediction(
            model,
            clip,
            result.logits,
            result.temporal,
            result.spatial,
            k=k,
            attention=attention,
            timings=timings,
        )
        t2 = time.perf_counter()
        self._observe_stages(
            model.name,
            upload=upload_s,
            decode=decode_s,
            queue=result.queue_s,
            inference=result.inference_s,
            postprocess=t2 - t1,
        )
        total = timings.model_copy(update={"total": (t2 - started) * MS})
        return replace(prediction, timings_ms=total)

    def _observe_stages(self, model: str, **seconds: float) -> None:
        if self.metrics is not None:
            for stage, value in seconds.items():
                self.metrics.observe_stage(model, stage, value)
