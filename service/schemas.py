"""The HTTP API's bodies (pydantic): what clients send and receive, with OpenAPI examples."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Body):
    code: str = Field(description="stable machine-readable error code", examples=["unsupported_media"])
    message: str = Field(description="human-readable; never carries server internals")
    retryable: bool = Field(default=False, description="whether sending the same request again may succeed")


class ErrorResponse(_Body):
    error: ErrorDetail


class LabelScore(_Body):
    label: str
    score: float = Field(ge=0.0, le=1.0, description="softmax probability")


class ModelRef(_Body):
    name: str
    version: str


class ClipInfo(_Body):
    """The decoded clip as the answer describes it (also what a stored result keeps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    duration_s: float
    fps: float
    width: int = Field(description="as displayed (after rotation)")
    height: int = Field(description="as displayed (after rotation)")
    rotation: int = Field(description="clockwise degrees applied to make the picture upright")
    stream: int = Field(description="index of the video stream used")
    frame_indices: tuple[int, ...] = Field(description="the sampled frames, in presentation order")
    timestamps_s: tuple[float, ...] = Field(description="their timestamps, seconds from the first frame")


class AttentionInfo(_Body):
    frame_importance: list[float] = Field(
        description="attention each temporal token receives (sums to 1); one per T' token"
    )
    temporal: list[list[float]] = Field(description="T'×T' temporal attention, rows sum to 1")
    timestamps_s: list[float] = Field(description="the time of each temporal token")


class Links(_Body):
    self: str
    heatmap: str


class ViewsInfo(_Body):
    """Which views a prediction averaged (multi-view testing: `views=CxK`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clips: int = Field(description="temporal clips spread over the video")
    crops: int = Field(description="spatial crops per clip (1 or 3)")
    crop_positions: list[str] = Field(description="centre; or left/centre/right, top/centre/bottom")
    clip_timestamps_s: list[list[float]] = Field(description="each clip's sampled frame times")


class Timings(_Body):
    """Milliseconds per stage of one prediction, and in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decode: float
    queue: float
    inference: float
    total: float


class PredictionResponse(_Body):
    id: str = Field(description="opaque result id (22 characters), valid for the result TTL")
    model: ModelRef
    labels: list[LabelScore] = Field(description="top-k labels, best first")
    clip: ClipInfo
    attention: AttentionInfo | None = Field(description="null when `attention=false` or the model has none")
    links: Links
    timings_ms: Timings
    views: ViewsInfo = Field(description="the views averaged; attention and heatmap are the central view's")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "q8Yc0Jk1bq2n7l3Wv9xZaA",
                    "model": {"name": "motion-timesformer", "version": "1"},
                    "labels": [
                        {"label": "moving_right", "score": 0.93},
                        {"label": "moving_left", "score": 0.04},
                    ],
                    "clip": {
                        "duration_s": 2.0,
                        "fps": 25.0,
                        "width": 320,
                        "height": 240,
                        "rotation": 0,
                        "stream": 0,
                        "frame_indices": [3, 9, 15, 21, 28, 34, 40, 46],
                        "timestamps_s": [0.12, 0.36, 0.6, 0.84, 1.12, 1.36, 1.6, 1.84],
                    },
                    "attention": {
                        "frame_importance": [0.1, 0.12, 0.13, 0.15, 0.15, 0.13, 0.12, 0.1],
                        "temporal": [[0.125] * 8] * 8,
                        "timestamps_s": [0.12, 0.36, 0.6, 0.84, 1.12, 1.36, 1.6, 1.84],
                    },
                    "links": {
                        "self": "/v1/predictions/q8Yc0Jk1bq2n7l3Wv9xZaA",
                        "heatmap": "/v1/predictions/q8Yc0Jk1bq2n7l3Wv9xZaA/heatmap.png",
                    },
                    "timings_ms": {"decode": 21.4, "queue": 3.2, "inference": 17.9, "total": 46.0},
                    "views": {
                        "clips": 1,
                        "crops": 1,
                        "crop_positions": ["centre"],
                        "clip_timestamps_s": [[0.12, 0.36, 0.6, 0.84, 1.12, 1.36, 1.6, 1.84]],
                    },
                }
            ]
        },
    )


class InputInfo(_Body):
    name: str
    dtype: str
    shape: list[int | str] = Field(description="[batch, T, H, W, 3]")


class SamplingInfo(_Body):
    """How the model samples and crops a clip: the sampling fields of its `DecodeRequest`, read off it
    by name (`SamplingInfo.model_validate(model.decode_request)`)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    policy: str
    num_frames: int
    frame_stride: int | None
    target_fps: float | None
    short_side: int
    crop_size: int


class ModelInfo(_Body):
    name: str
    version: str
    architecture: str
    attention: str
    labels: list[str]
    input: InputInfo
    sampling: SamplingInfo
    has_attention: bool
    runtime: str
    provider: str = Field(description="the execution provider really in use")
    max_batch_size: int


class ModelsResponse(_Body):
    default: str
    models: list[ModelInfo]


class HealthResponse(_Body):
    status: str = Field(examples=["ok"])


class ReadyResponse(_Body):
    status: str = Field(examples=["ready"])
    models: list[str]
