"""`/v1/timelines`: a long video's actions over time, streamed as NDJSON while its windows are computed.

The route admits the job (a timeline place, `settings.max_timelines`; each window then holds one of the
model's admission slots while it is in the batcher, see `service.timelines.runner`), spools the upload to
a temporary file, starts the run (plan and first window: refusals such as 413
`clip_too_long` or 422 `too_many_windows` are ordinary HTTP errors, sent before any line), then streams
the lines (`service.timelines.schemas`). However the stream ends (done, an error line, the client gone,
the server draining) the decoder worker is stopped and given back, the spooled file removed, the
document stored and the places released, in `TimelineResponse`'s cleanup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from service.api.admit import held_by
from service.api.deps import StateDep
from service.api.errors import error_responses
from service.api.predictions import NO_STORE, UPLOAD_BODY, png_answer, png_response
from service.api.spool import Spool, spool_upload
from service.errors import InvalidRequest, NotReady, ResultNotFound, ServiceError, StoreUnavailable
from service.loaded_models import LoadedModel
from service.state import ServiceState
from service.timelines.examples import NDJSON_EXAMPLE
from service.timelines.record import TimelineRecord
from service.timelines.registry import TimelineLease
from service.timelines.render import render_timeline
from service.timelines.runner import TimelineOptions, TimelineRun, window_request
from service.timelines.schemas import TimelineDocument, links_for

PREFIX = "/v1/timelines"
NDJSON = "application/x-ndjson"
# nginx and similar proxies pass each line on at once instead of buffering the stream
STREAM_HEADERS = {"X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"}
router = APIRouter(prefix=PREFIX, tags=["timelines"])
ID_PATH = Path(min_length=1, max_length=64, description="the `id` of a timeline")

Cleanup = Callable[[], Awaitable[None]]


class TimelineResponse(StreamingResponse):
    """The NDJSON stream; `cleanup` runs once it is over, however it ended (shielded from cancellation)."""

    media_type = NDJSON

    def __init__(self, lines: AsyncIterator[bytes], cleanup: Cleanup, headers: dict[str, str]) -> None:
        super().__init__(lines, media_type=NDJSON, headers=headers)
        self._lines = lines
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._lines, "aclose", None)
                if aclose is not None:
                    await aclose()
                await self._cleanup()


class _Job:
    """What one timeline request holds, and gives back in `end` (idempotent)."""

    def __init__(self, state: ServiceState, model: LoadedModel, lease: TimelineLease) -> None:
        self.state, self.model, self.lease = state, model, lease
        self.spool: Spool | None = None
        self.run: TimelineRun | None = None
        self.record: TimelineRecord | None = None
        self.started = time.perf_counter()
        self._ended = False

    async def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            if self.run is not None:
                await self.run.close()
        finally:
            if self.spool is not None:
                self.spool.remove()
            self.lease.release()
        if self.record is not None and self.run is not None:
            self._count(self.record, self.run)
            await self.state.timelines.end(self.record)

    def _count(self, record: TimelineRecord, run: TimelineRun) -> None:
        metrics, name = self.state.metrics, self.model.name
        if not record.complete and record.error is None:
            record.fail(ClientGone(), run.clock.timings())
        outcome = "done" if record.complete else record.error.code if record.error else "error"
        metrics.timeline_outcomes.labels(model=name, outcome=outcome).inc()
        if run.remaining:
            metrics.timeline_windows_cancelled.labels(model=name, reason=outcome).inc(run.remaining)
        metrics.timeline_duration.labels(model=name).observe(time.perf_counter() - self.started)
        metrics.timeline_video_seconds.labels(model=name).inc(record.head.clip.duration_s)


class ClientGone(ServiceError):
    """Recorded in a timeline's document when its client disconnected before the last window."""

    code = "cancelled"
    default_message = "the client disconnected; the remaining windows were not computed"


def _stop_check(state: ServiceState) -> Callable[[], ServiceError | None]:
    def check() -> ServiceError | None:
        if state.draining:
            return NotReady("the server is shutting down; this timeline stopped early (retry it)")
        return None

    return check


async def _lines(job: _Job) -> AsyncIterator[bytes]:
    assert job.run is not None and job.record is not None
    metrics, name = job.state.metrics, job.model.name
    yield job.record.head.model_dump_json().encode() + b"\n"
    async for line in job.run.lines(job.record, _stop_check(job.state)):
        if line.type == "window":
            metrics.timeline_windows.labels(model=name).inc()
            if job.run.processed == 1 and job.run.clock.first_window is not None:
                metrics.timeline_first_window.labels(model=name).observe(job.run.clock.first_window)
        yield line.model_dump_json().encode() + b"\n"


async def _start(job: _Job, request: Request, options: TimelineOptions) -> None:
    """Spool the upload and start the run (plan and first window); the job is ended on failure."""
    state = job.state
    predictor = state.require_ready()
    settings = state.settings
    try:
        wanted = window_request(job.model, options, settings)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    job.spool = await spool_upload(request, settings.timeline_max_upload_bytes, settings.spool_dir)
    job.run = TimelineRun(predictor, job.model, job.spool.path, wanted, options, started=job.started)
    job.run.clock.upload = time.perf_counter() - job.started
    plan, clip = await job.run.start()
    job.record = TimelineRecord(
        timeline_id=state.timelines.new_id(),
        model=job.run.model_ref,
        clip=clip,
        window_s=plan.window_s,
        stride_s=plan.stride_s,
        windows=len(plan.windows),
    )
    state.timelines.track(job.record)


TIMELINE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "NDJSON, one line per object, streamed as windows complete: the head, one line "
        "per window, the segments, then `done` (or a final `error` line)",
        "content": {NDJSON: {"schema": {"type": "string"}, "example": NDJSON_EXAMPLE}},
    },
    **error_responses(
        400,
        401,
        404,
        413,
        415,
        422,
        500,
        503,
        504,
        examples={
            413: ("clip_too_long", "the clip is longer than 1800 s"),
            422: (
                "too_many_windows",
                "600.0 s in windows of 1 s every 0.5 s makes 1199 windows (limit 1000)",
            ),
            404: ("model_not_found", "no model named 'x'; GET /v1/models lists them"),
        },
    ),
}


@router.post(
    "",
    summary="A long video's actions over time, streamed",
    status_code=200,
    response_class=TimelineResponse,
    responses=TIMELINE_RESPONSES,
    openapi_extra=UPLOAD_BODY,
)
async def create_timeline(
    request: Request,
    state: StateDep,
    model: Annotated[
        str | None, Query(max_length=128, description="model name (default: the default)")
    ] = None,
    window_s: Annotated[
        float | None, Query(gt=0, le=600, description="window length (default: the model's temporal span)")
    ] = None,
    stride_s: Annotated[float | None, Query(gt=0, le=3600, description="default: half a window")] = None,
    top_k: Annotated[int, Query(ge=1, le=100, description="labels per window")] = 5,
    attention: Annotated[bool, Query(description="include each window's frame importance")] = True,
) -> Response:
    predictor = state.require_ready()
    loaded = predictor.models.get(model)
    held = held_by(request.scope)  # the place `AdmitBeforeBody` took from the headers
    job = _Job(state, loaded, held if isinstance(held, TimelineLease) else state.timelines.lease())
    options = TimelineOptions(window_s=window_s, stride_s=stride_s, top_k=top_k, attention=attention)
    try:
        await _start(job, request, options)
    except BaseException:
        await asyncio.shield(job.end())
        raise
    assert job.record is not None
    headers = {**NO_STORE, "Location": links_for(job.record.id).self, **STREAM_HEADERS}
    return TimelineResponse(_lines(job), job.end, headers)


async def _document(state: ServiceState, timeline_id: str) -> TimelineDocument:
    try:
        document = await state.timelines.get(timeline_id)
    except StoreUnavailable:
        state.metrics.result_store_errors.labels(operation="get").inc()
        raise
    if document is None:
        raise ResultNotFound("no such timeline (unknown or expired)")
    return document


@router.get(
    "/{timeline_id}",
    summary="A timeline as one document (so far, while it runs)",
    response_model=TimelineDocument,
    responses=error_responses(401, 404, 503, examples={404: ("result_not_found", "no such timeline")}),
)
async def get_timeline(
    response: Response, state: StateDep, timeline_id: Annotated[str, ID_PATH]
) -> TimelineDocument:
    document = await _document(state, timeline_id)
    response.headers.update(NO_STORE)
    return document


@router.get(
    "/{timeline_id}/timeline.png",
    summary="A timeline at a glance (PNG)",
    response_class=Response,
    responses={
        **png_answer("segments, label probabilities over time and each window's frame importance"),
        **error_responses(401, 404, 503, examples={404: ("result_not_found", "no such timeline")}),
    },
)
async def get_timeline_png(state: StateDep, timeline_id: Annotated[str, ID_PATH]) -> Response:
    document = await _document(state, timeline_id)
    labels: list[str] = []
    if state.predictor is not None and document.model.name in state.predictor.models.names():
        labels = list(state.predictor.models.get(document.model.name).manifest.labels)
    png = await asyncio.to_thread(render_timeline, document, labels)
    return png_response(png)
