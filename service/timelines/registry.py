"""The timelines of one app: how many may run at once, the running ones by id, the finished ones' store.

Each running timeline holds a decoder worker for its whole length, so at most `max_running` run at once
(`settings.max_timelines`); past it a new one is refused with 503 `overloaded` before its upload is read.
A running timeline's record answers `GET` from this process (`complete: false`); when it ends, however
it ends, its document is written to the result store under the same id.
"""

from __future__ import annotations

import logging
import threading

from service.errors import Overloaded, StoreUnavailable
from service.metrics import Metrics
from service.store import ResultStore, new_result_id
from service.timelines.record import TimelineRecord
from service.timelines.schemas import TimelineDocument

log = logging.getLogger(__name__)


class TimelineLease:
    """A running timeline's place among `max_running`; `release` gives it back (once)."""

    def __init__(self, registry: Timelines) -> None:
        self._registry = registry
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._registry._give_back()


class Timelines:
    def __init__(self, store: ResultStore[TimelineDocument], *, max_running: int, metrics: Metrics) -> None:
        self.store = store
        self.max_running = max_running
        self.metrics = metrics
        self._running = 0
        self._live: dict[str, TimelineRecord] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._running

    def lease(self) -> TimelineLease:
        """A place for one more timeline, or `Overloaded` at once."""
        with self._lock:
            if self._running >= self.max_running:
                raise Overloaded(f"{self.max_running} timeline(s) already running; retry later")
            self._running += 1
        self.metrics.timelines_in_progress.inc()
        return TimelineLease(self)

    def _give_back(self) -> None:
        with self._lock:
            self._running -= 1
        self.metrics.timelines_in_progress.dec()

    @staticmethod
    def new_id() -> str:
        return new_result_id()

    def track(self, record: TimelineRecord) -> None:
        """Answer `GET` for this running timeline from its live record."""
        self._live[record.id] = record

    async def end(self, record: TimelineRecord) -> None:
        """Store the final document under the timeline's id (an outage is counted and logged)."""
        try:
            await self.store.put_as(record.id, record.document())
        except StoreUnavailable as exc:
            self.metrics.result_store_errors.labels(operation="put").inc()
            log.warning("timeline %s not stored: %s", record.id, exc.__cause__ or exc)
        finally:
            self._live.pop(record.id, None)

    async def get(self, timeline_id: str) -> TimelineDocument | None:
        """The running timeline's document so far, else the stored one, else None."""
        live = self._live.get(timeline_id)
        if live is not None:
            return live.document()
        return await self.store.get(timeline_id)
