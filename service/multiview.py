"""Multi-view prediction (`POST /v1/predictions?views=CxK`): test-time augmentation as the papers evaluate.

`C` temporal clips spread over the video (`sampling.plan_clips`) × `K` spatial crops (1: centre; 3: left,
centre, right along a landscape frame, top, centre, bottom along a portrait one). All `C × K` views are
decoded from one demux pass in one worker job (`Decoder.decode_views`), run through the model's batcher
like any clips (so they batch with other requests), their logits averaged and the softmax taken after
(TimeSformer evaluates 1×3, ViViT 4×3). Attention and the heatmap frames are the central view's (the
middle clip, the centre crop). One view (`1x1`) is an ordinary prediction, answered exactly as without
`views`.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from service.batching import ItemResult
from service.decoding.source import Source
from service.decoding.types import DecodedClip
from service.errors import InvalidRequest, VideoDecodeError
from service.loaded_models import LoadedModel
from service.pipeline import MS, Prediction, Predictor, build_prediction
from service.schemas import ClipInfo, Timings, ViewsInfo

VIEWS_PATTERN = r"^([1-9]|10)x[13]$"
MAX_CLIPS = 10


@dataclass(frozen=True, kw_only=True)
class Views:
    clips: int = 1
    crops: Literal[1, 3] = 1

    @property
    def single(self) -> bool:
        return self.clips == 1 and self.crops == 1

    @classmethod
    def parse(cls, text: str) -> Views:
        """`"CxK"`: C in 1..10 temporal clips, K in {1, 3} spatial crops."""
        if not re.fullmatch(VIEWS_PATTERN, text):
            raise InvalidRequest(f"views must be CxK with C in 1..{MAX_CLIPS} and K 1 or 3, got {text!r}")
        clips, crops = text.split("x")
        return cls(clips=int(clips), crops=3 if crops == "3" else 1)

    @classmethod
    def default_for(cls, model: LoadedModel) -> Views:
        """The views the model's card evaluates with (`test_clips × test_crops`)."""
        contract = model.manifest.input
        return cls(clips=min(contract.test_clips, MAX_CLIPS), crops=contract.test_crops)


def crop_positions(crops: int, width: int, height: int) -> list[str]:
    if crops == 1:
        return ["centre"]
    return ["left", "centre", "right"] if width >= height else ["top", "centre", "bottom"]


def _view(clip: DecodedClip, crop: int) -> DecodedClip:
    """One crop of a decoded clip as a one-crop clip ``[T, S, S, 3]``."""
    return clip if clip.crops == 1 else replace(clip, frames=np.ascontiguousarray(clip.frames[crop]), crops=1)


def single_view(clip: ClipInfo) -> ViewsInfo:
    """What an ordinary (one-view) prediction ran."""
    return ViewsInfo(clips=1, crops=1, crop_positions=["centre"], clip_timestamps_s=[list(clip.timestamps_s)])


def views_info(views: Views, clips: tuple[DecodedClip, ...]) -> ViewsInfo:
    first = clips[0]
    return ViewsInfo(
        clips=views.clips,
        crops=views.crops,
        crop_positions=crop_positions(views.crops, first.width, first.height),
        clip_timestamps_s=[[float(t) for t in clip.timestamps_s] for clip in clips],
    )


async def _decode(
    predictor: Predictor, model: LoadedModel, data: Source, views: Views
) -> tuple[DecodedClip, ...]:
    request = replace(model.decode_request, num_clips=views.clips, crops=views.crops)
    try:
        return await predictor.decoder.decode_views(data, request)
    except VideoDecodeError as exc:
        if predictor.metrics is not None:
            predictor.metrics.decode_failures.labels(code=exc.code).inc()
        raise


async def run_views(
    predictor: Predictor,
    model: LoadedModel,
    data: Source,
    views: Views,
    *,
    k: int = 5,
    attention: bool = True,
    started: float | None = None,
) -> Prediction:
    """Decode every view, classify them together, average the logits (the caller holds admission)."""
    started = time.perf_counter() if started is None else started
    t0 = time.perf_counter()
    clips = await _decode(predictor, model, data, views)
    decode_s = time.perf_counter() - t0
    view_clips = [_view(clip, crop) for clip in clips for crop in range(views.crops)]
    results: list[ItemResult] = list(
        await asyncio.gather(*(predictor.infer(model, view.frames) for view in view_clips))
    )
    logits = np.mean(np.stack([r.logits for r in results]).astype(np.float64), axis=0).astype(np.float32)
    centre = (views.clips // 2) * views.crops + views.crops // 2
    timings = Timings(
        decode=decode_s * MS,
        queue=max(r.queue_s for r in results) * MS,
        inference=max(r.inference_s for r in results) * MS,
        total=(time.perf_counter() - started) * MS,
    )
    prediction = build_prediction(
        model,
        view_clips[centre],
        logits,
        results[centre].temporal,
        results[centre].spatial,
        k=k,
        attention=attention,
        timings=timings,
    )
    return replace(prediction, views=views_info(views, clips))
