"""A timeline's record: everything its stream has sent, as `GET /v1/timelines/{id}` answers it.

A record lives in this process while its timeline runs (answered with `complete: false`), then its final
document goes to the result store of kind `timeline` (`TIMELINE_CODEC`), shared by replicas when the store
is Redis.
"""

from __future__ import annotations

from pydantic import ValidationError

from service.errors import ServiceError
from service.schemas import ErrorDetail, ModelRef
from service.store.document import Document, pack, unpack
from service.timelines.schemas import (
    Segment,
    TimelineClip,
    TimelineDocument,
    TimelineHead,
    TimelineTimings,
    WindowLine,
    links_for,
)
from service.timelines.segments import merge_segments

FORMAT = "timeline/1"


class TimelineRecord:
    """The head, the window lines so far, and how the timeline ended (segments and timings, or an error)."""

    def __init__(
        self,
        *,
        timeline_id: str,
        model: ModelRef,
        clip: TimelineClip,
        window_s: float,
        stride_s: float,
        windows: int,
    ) -> None:
        self.head = TimelineHead(
            id=timeline_id, model=model, clip=clip, window_s=window_s, stride_s=stride_s, windows=windows
        )
        self.windows: list[WindowLine] = []
        self.segments: list[Segment] = []
        self.complete = False
        self.error: ErrorDetail | None = None
        self.timings_ms: TimelineTimings | None = None

    @property
    def id(self) -> str:
        return self.head.id

    def add(self, line: WindowLine) -> None:
        self.windows.append(line)

    def finish(self, timings: TimelineTimings) -> list[Segment]:
        """Every window is in: merge the segments and mark the record complete."""
        self.segments = merge_segments(self.windows, self.head.clip.duration_s)
        self.complete = True
        self.timings_ms = timings
        return self.segments

    def fail(self, error: ServiceError, timings: TimelineTimings) -> None:
        self.error = ErrorDetail(code=error.code, message=error.message, retryable=error.retryable)
        self.timings_ms = timings

    def document(self) -> TimelineDocument:
        head = self.head
        return TimelineDocument(
            id=head.id,
            model=head.model,
            clip=head.clip,
            window_s=head.window_s,
            stride_s=head.stride_s,
            window_count=head.windows,
            windows=list(self.windows),
            segments=list(self.segments),
            complete=self.complete,
            error=self.error,
            timings_ms=self.timings_ms,
            links=links_for(head.id),
        )


class TimelineCodec:
    """`Codec[TimelineDocument]` for the result store: the document as JSON fields (no arrays)."""

    def encode(self, value: TimelineDocument) -> bytes:
        return pack(Document(fields={"format": FORMAT, "document": value.model_dump(mode="json")}))

    def decode(self, data: bytes) -> TimelineDocument:
        fields = unpack(data).fields
        if fields.get("format") != FORMAT:
            raise ValueError(f"not a stored timeline: {fields.get('format')!r}")
        try:
            return TimelineDocument.model_validate(fields["document"])
        except (KeyError, ValidationError) as exc:
            raise ValueError("a stored timeline does not validate") from exc


TIMELINE_CODEC = TimelineCodec()
