"""One timeline, transport-free: a decoder worker's windows, each through the model's batcher, as lines.

Used by `POST /v1/timelines` and by `vtserve timeline` alike. `TimelineRun.start` lends a decoder worker
to the job (`Decoder.open_windows`) and waits for the plan and the first window, so a video the service
refuses (too long, too many windows, not a video) is refused before any line is sent. `lines` then yields
the head, one line per window as soon as that window's labels are known, the segments and `done`; the
worker decodes window k+1 while window k waits in the batcher, and never more than that.

Windows go through the same batcher as single clips (`Predictor.infer`). Each window in the batcher holds
one of the model's admission slots (`Predictor.admission`), taken when one is free: while predictions keep
every slot busy the timeline waits, so a long timeline cannot crowd short predictions out; it holds at most
one slot at a time for its windows (besides any its request was admitted with).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from service.decoding.streaming import WindowStream
from service.decoding.windows import DecodedWindow, TimelinePlan, WindowRequest
from service.errors import Overloaded, ServiceError, Undecodable
from service.loaded_models import LoadedModel
from service.pipeline import Predictor
from service.postprocess import frame_importance, softmax, top_k
from service.schemas import ErrorDetail, LabelScore, ModelRef
from service.settings import Settings
from service.timelines.record import TimelineRecord
from service.timelines.schemas import (
    DoneLine,
    ErrorLine,
    SegmentsLine,
    TimelineClip,
    TimelineTimings,
    WindowLine,
)

MS = 1000.0
SLOT_POLL_S = 0.01  # how often a window waiting for an admission slot looks again

Line = WindowLine | SegmentsLine | DoneLine | ErrorLine
#: Asked between windows: an error to end the stream with (e.g. the server is draining), or None.
StopCheck = Callable[[], ServiceError | None]


@dataclass(frozen=True, kw_only=True)
class TimelineOptions:
    window_s: float | None = None
    stride_s: float | None = None
    top_k: int = 5
    attention: bool = True


def card_window_s(model: LoadedModel) -> float | None:
    """The window a uniformly sampled model was made for, when its card says (`extra.window_s`)."""
    value = model.manifest.card_extra.get("window_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def window_request(model: LoadedModel, options: TimelineOptions, settings: Settings) -> WindowRequest:
    """How `model` cuts a video into windows: the window asked for, else the model's own span (stride
    sampling: `num_frames × frame_stride / fps`, resolved once the fps is known; uniform sampling: the
    card's `window_s`, else `settings.timeline_window_s`), with the timeline limits of `settings`.

    Raises ValueError for an impossible combination."""
    clip = model.decode_request
    window_s = options.window_s or card_window_s(model)
    if window_s is None and clip.policy != "stride":
        window_s = settings.timeline_window_s
    return WindowRequest(
        clip=clip,
        window_s=window_s,
        stride_s=options.stride_s,
        max_windows=settings.timeline_max_windows,
        max_duration_s=settings.timeline_max_duration_s,
        max_bytes=settings.timeline_max_upload_bytes,
    )


@dataclass(kw_only=True)
class _Clock:
    """Where a timeline's time went (seconds)."""

    started: float = field(default_factory=time.perf_counter)
    upload: float = 0.0
    first_window: float | None = None
    decode: float = 0.0
    queue: float = 0.0
    inference: float = 0.0

    def timings(self) -> TimelineTimings:
        return TimelineTimings(
            upload=self.upload * MS,
            first_window=(self.first_window or 0.0) * MS,
            decode=self.decode * MS,
            queue=self.queue * MS,
            inference=self.inference * MS,
            total=(time.perf_counter() - self.started) * MS,
        )


class TimelineRun:
    """One timeline's decoding and inference. `start`, then iterate `lines`; `close` always (idempotent)."""

    def __init__(
        self,
        predictor: Predictor,
        model: LoadedModel,
        source: Path,
        request: WindowRequest,
        options: TimelineOptions,
        *,
        started: float | None = None,
    ) -> None:
        self.predictor = predictor
        self.model = model
        self.source = source
        self.request = request
        self.options = options
        self.clock = _Clock(started=time.perf_counter() if started is None else started)
        self.plan: TimelinePlan | None = None
        self.processed = 0  # windows whose labels are known
        self._stream: WindowStream | None = None
        self._next: DecodedWindow | None = None

    async def _receive(self) -> TimelinePlan | DecodedWindow | None:
        assert self._stream is not None
        t0 = time.perf_counter()
        item = await asyncio.to_thread(self._stream.next)
        self.clock.decode += time.perf_counter() - t0
        return item

    async def start(self) -> tuple[TimelinePlan, TimelineClip]:
        """Lend a worker, scan and plan, decode the first window; raises the upload's error if any."""
        self._stream = await asyncio.to_thread(self.predictor.decoder.open_windows, self.source, self.request)
        plan, first = await self._receive(), await self._receive()
        if not isinstance(plan, TimelinePlan) or not isinstance(first, DecodedWindow):
            raise Undecodable()
        self.plan, self._next = plan, first
        clip = TimelineClip(
            duration_s=plan.duration_s,
            fps=plan.fps,
            width=first.width,
            height=first.height,
            rotation=first.rotation,
            stream=plan.stream_index,
        )
        return plan, clip

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.model.name, version=self.model.manifest.version)

    async def _hold_slot(self, stack: ExitStack) -> None:
        """Hold one admission slot in `stack`, waiting (not failing) while predictions hold them all."""
        while True:
            try:
                stack.enter_context(self.predictor.admission.admit(self.model.name))
                return
            except Overloaded:
                await asyncio.sleep(SLOT_POLL_S)

    async def _classify(self, window: DecodedWindow) -> WindowLine:
        with ExitStack() as stack:
            await self._hold_slot(stack)
            result = await self.predictor.infer(self.model, window.frames)
        self.clock.queue += result.queue_s
        self.clock.inference += result.inference_s
        scores = softmax(result.logits)
        labels = top_k(scores, self.model.manifest.labels, self.options.top_k)
        use_attention = self.options.attention and result.temporal is not None
        importance = (
            frame_importance(result.temporal) if use_attention and result.temporal is not None else None
        )
        return WindowLine(
            index=window.index,
            start_s=window.start_s,
            end_s=window.end_s,
            labels=[LabelScore(label=label, score=min(max(score, 0.0), 1.0)) for label, score in labels],
            frame_importance=None if importance is None else [float(x) for x in importance],
            timestamps_s=list(window.timestamps_s),
        )

    async def windows(self) -> AsyncIterator[WindowLine]:
        """Each window's line, in order, as soon as its labels are known."""
        while self._next is not None:
            window, self._next = self._next, None
            line = await self._classify(window)
            self.processed += 1
            if self.clock.first_window is None:
                self.clock.first_window = time.perf_counter() - self.clock.started
            yield line
            item = await self._receive()
            self._next = item if isinstance(item, DecodedWindow) else None

    async def lines(self, record: TimelineRecord, stop: StopCheck | None = None) -> AsyncIterator[Line]:
        """Window lines, then segments and done; an error (or `stop`'s) ends it with an error line.

        `record` collects everything sent, for `GET /v1/timelines/{id}`.
        """
        try:
            async for line in self.windows():
                record.add(line)
                yield line
                reason = stop() if stop is not None else None
                if reason is not None and self.remaining > 0:
                    raise reason
            segments = record.finish(self.clock.timings())
            yield SegmentsLine(segments=segments)
            yield DoneLine(timings_ms=record.timings_ms or self.clock.timings())
        except ServiceError as exc:
            record.fail(exc, self.clock.timings())
            yield ErrorLine(error=ErrorDetail(code=exc.code, message=exc.message, retryable=exc.retryable))

    @property
    def remaining(self) -> int:
        """Windows planned and not (yet) processed."""
        return 0 if self.plan is None else len(self.plan.windows) - self.processed

    async def close(self) -> None:
        """Stop decoding (the worker finishes the window it is on) and give the worker back."""
        stream, self._stream = self._stream, None
        self._next = None
        if stream is not None:
            await asyncio.to_thread(stream.close)
