"""The timeline API's bodies: the NDJSON lines of `POST /v1/timelines` and the document of `GET`.

The stream is, one JSON object per line, in this order::

    {"type": "timeline", "id", "model", "clip", "window_s", "stride_s", "windows"}      the head
    {"type": "window", "index", "start_s", "end_s", "labels", "frame_importance", "timestamps_s"}  × N
    {"type": "segments", "segments": [{"label", "start_s", "end_s", "score"}]}
    {"type": "done", "timings_ms": {...}}

and an error after the head ends it with `{"type": "error", "error": {"code", "message", "retryable"}}`.
`GET /v1/timelines/{id}` answers the same facts as one document: the head's fields, `windows` as the list
of window lines, `segments`, `complete` (false while it is still being computed, or when it ended early),
`error` and `timings_ms`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import ErrorDetail, LabelScore, ModelRef


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimelineClip(_Body):
    duration_s: float = Field(description="from the packet scan: first to last frame, plus one frame")
    fps: float
    width: int = Field(description="as displayed (after rotation)")
    height: int = Field(description="as displayed (after rotation)")
    rotation: int = Field(description="clockwise degrees applied to make the picture upright")
    stream: int = Field(description="index of the video stream used")


class TimelineHead(_Body):
    type: Literal["timeline"] = "timeline"
    id: str = Field(description="opaque id (22 characters): GET /v1/timelines/{id} gives the document")
    model: ModelRef
    clip: TimelineClip
    window_s: float = Field(description="length of each window, seconds")
    stride_s: float = Field(description="time from one window's start to the next")
    windows: int = Field(description="how many window lines follow")


class WindowLine(_Body):
    type: Literal["window"] = "window"
    index: int
    start_s: float
    end_s: float
    labels: list[LabelScore] = Field(description="top-k labels of this window, best first")
    frame_importance: list[float] | None = Field(
        description="attention each temporal token receives (sums to 1); null without attention"
    )
    timestamps_s: list[float] = Field(description="the sampled frames' times, seconds from the first frame")


class Segment(_Body):
    label: str
    start_s: float
    end_s: float
    score: float = Field(ge=0.0, le=1.0, description="mean top score of the merged windows")


class SegmentsLine(_Body):
    type: Literal["segments"] = "segments"
    segments: list[Segment] = Field(description="consecutive windows with the same top label, merged")


class TimelineTimings(_Body):
    """Milliseconds: upload, until the first window's labels, decoding, batcher queue and inference
    summed over the windows, and the whole job."""

    upload: float
    first_window: float
    decode: float
    queue: float
    inference: float
    total: float


class DoneLine(_Body):
    type: Literal["done"] = "done"
    timings_ms: TimelineTimings


class ErrorLine(_Body):
    type: Literal["error"] = "error"
    error: ErrorDetail


class TimelineLinks(_Body):
    self: str
    png: str


class TimelineDocument(_Body):
    id: str
    model: ModelRef
    clip: TimelineClip
    window_s: float
    stride_s: float
    window_count: int = Field(description="windows planned (the head's `windows`)")
    windows: list[WindowLine] = Field(description="the window lines received so far, in order")
    segments: list[Segment] = Field(description="empty until every window is done")
    complete: bool = Field(description="every window done; false while running or after an error")
    error: ErrorDetail | None = None
    timings_ms: TimelineTimings | None = None
    links: TimelineLinks


def links_for(timeline_id: str) -> TimelineLinks:
    base = f"/v1/timelines/{timeline_id}"
    return TimelineLinks(self=base, png=f"{base}/timeline.png")
