"""A `Prediction` as a stored document: the answer's facts as JSON, the frames and maps as raw arrays.

What a heatmap needs is kept exactly: the sampled frames (`uint8 [T', H, W, 3]`), the spatial maps
(`float32 [T', h, w]`), the token timestamps and frame importance. A prediction of the shipped
motion-timesformer (8 frames of 32×32) is about 20 KB stored; one at 8×224² about 0.8-1.2 MB.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from service.pipeline import Prediction
from service.schemas import ClipInfo, Timings, ViewsInfo
from service.store.document import Document, pack, unpack

FORMAT = "prediction/1"


class _Fields(BaseModel):
    """The JSON fields of a stored prediction besides `format`: read off a `Prediction` by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)

    model: str
    version: str
    labels: tuple[tuple[str, float], ...]
    clip: ClipInfo
    importance: tuple[float, ...] | None
    token_timestamps: tuple[float, ...]
    timings_ms: Timings
    views: ViewsInfo | None = None


class PredictionCodec:
    """`Codec[Prediction]`: `decode(encode(p)) == p`, arrays bit for bit."""

    def encode(self, value: Prediction) -> bytes:
        fields = {"format": FORMAT, **_Fields.model_validate(value).model_dump(mode="json")}
        arrays: dict[str, Any] = {"frames": value.frames}
        if value.spatial is not None:
            arrays["spatial"] = value.spatial
        if value.temporal is not None:
            arrays["temporal"] = value.temporal
        return pack(Document(fields=fields, arrays=arrays))

    def decode(self, data: bytes) -> Prediction:
        document = unpack(data)
        stored = dict(document.fields)
        if (found := stored.pop("format", None)) != FORMAT:
            raise ValueError(f"stored prediction has format {found!r}, expected {FORMAT!r}")
        fields = _Fields.model_validate(stored)
        arrays = document.arrays
        frames = arrays["frames"]
        if frames.dtype != np.uint8 or frames.ndim != 4:
            raise ValueError("stored frames must be uint8 [T', H, W, 3]")
        spatial = arrays.get("spatial")
        temporal = arrays.get("temporal")
        return Prediction(
            model=fields.model,
            version=fields.version,
            labels=fields.labels,
            clip=fields.clip,
            temporal=None if temporal is None else temporal.astype(np.float64, copy=False),
            importance=fields.importance,
            token_timestamps=fields.token_timestamps,
            frames=frames,
            spatial=None if spatial is None else spatial.astype(np.float32, copy=False),
            timings_ms=fields.timings_ms,
            views=fields.views,
        )


PREDICTION_CODEC = PredictionCodec()
