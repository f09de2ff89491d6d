"""Dynamic batching for one model: many requests' clips → one runtime call.

Two threads joined by bounded queues, so preparation overlaps inference:

    submit() ──► incoming ──► [collector: collect_batch + np.stack] ──► prepared (1 slot)
                                                                   ──► [inference: runtime.infer] ──► futures

`collect_batch` (the collection step) is a pure function of a queue and a clock.

Admission is not decided here: `service.admission.Admission` caps the requests each model has in progress,
before their uploads are read, and a request submits one clip. `incoming` is nevertheless bounded, at
`capacity` clips: a request that gave up waiting (`InferenceTimeout`) gives its admission slot back while
its clip still waits here, so with a runtime that hangs the queue could otherwise grow without end. When it
is full `submit` refuses at once with `Overloaded`, without blocking. One slot beyond `capacity` is kept for
the stop sentinel, so `close` never blocks either.

Every clip `submit` accepts has a future that resolves: with its outputs, or with `InferenceFailed` when its
batch failed (only that batch's requests fail; the loop goes on), or with `NotReady` when the batcher is
closed without draining. A caller that stops waiting cancels its future; the clip is then skipped.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.errors import InferenceFailed, NotReady, Overloaded, ServiceError
from service.metrics import Metrics
from service.runtimes.base import Runtime

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    """One clip's share of a batch's outputs, plus where its time went."""

    logits: NDArray[np.float32]  # [C]
    temporal: NDArray[np.float32] | None  # [T', T']
    spatial: NDArray[np.float32] | None  # [T', h, w]
    queue_s: float
    inference_s: float
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    frames: NDArray[np.uint8]  # [T, H, W, 3]
    future: concurrent.futures.Future[ItemResult]
    enqueued_at: float


@dataclass(frozen=True, kw_only=True)
class PreparedBatch:
    items: list[BatchItem]
    video: NDArray[np.uint8]  # [B, T, H, W, 3]


def collect_batch(
    source: queue.SimpleQueue[BatchItem | None] | queue.Queue[BatchItem | None],
    *,
    max_size: int,
    max_wait_s: float,
    clock: Clock = time.monotonic,
    idle_timeout_s: float | None = None,
) -> tuple[list[BatchItem], bool]:
    """Take up to `max_size` items: block for the first, then wait at most `max_wait_s` for more.

    Returns `(items, stop)`; `stop` is True once the `None` sentinel was read (items before it are
    returned, nothing after it is read). With `idle_timeout_s`, returns `([], False)` if nothing arrives.
    """
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    try:
        first = source.get(timeout=idle_timeout_s)
    except queue.Empty:
        return [], False
    if first is None:
        return [], True
    items = [first]
    deadline = clock() + max_wait_s
    while len(items) < max_size:
        remaining = deadline - clock()
        try:
            item = source.get_nowait() if remaining <= 0 else source.get(timeout=remaining)
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False


def _resolve(future: concurrent.futures.Future[ItemResult], result: ItemResult | BaseException) -> None:
    """Set a future's outcome unless the waiter already gave up (cancelled)."""
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


class Batcher:
    """Batches one model's requests. `start()`, then `submit()` from any thread; `close()` to stop."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        model: str,
        max_batch_size: int,
        max_wait_s: float,
        capacity: int,
        metrics: Metrics | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        runtime_max = runtime.input_spec.max_batch
        self.runtime = runtime
        self.model = model
        self.max_batch_size = min(max_batch_size, runtime_max) if runtime_max else max_batch_size
        self.max_wait_s = max_wait_s
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._metrics = metrics
        self._clock = clock
        self._incoming: queue.Queue[BatchItem | None] = queue.Queue(maxsize=capacity + 1)  # + the sentinel
        self._prepared: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=1)
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._collect_loop, name=f"batcher-collect-{model}", daemon=True),
            threading.Thread(target=self._infer_loop, name=f"batcher-infer-{model}", daemon=True),
        ]

    @property
    def depth(self) -> int:
        """Clips accepted and not yet answered (queued, being prepared, or in inference)."""
        return self._pending

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, frames: NDArray[np.uint8]) -> concurrent.futures.Future[ItemResult]:
        """Queue one clip `[T, H, W, 3]`, or raise `NotReady` (closed) / `Overloaded` (`capacity` clips
        already waiting) at once; never blocks."""
        future: concurrent.futures.Future[ItemResult] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise NotReady("the model is shutting down; retry later")
            if self._incoming.qsize() >= self.capacity:
                raise Overloaded(f"model {self.model!r} has {self.capacity} clips waiting; retry later")
            self._incoming.put_nowait(BatchItem(frames=frames, future=future, enqueued_at=self._clock()))
            self._pending += 1
            self._set_depth(self._pending)
        future.add_done_callback(self._on_done)
        return future

    def close(self, *, drain: bool = True, timeout_s: float | None = None) -> None:
        """Stop accepting; with `drain`, answer everything already accepted, then stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not drain:
            self._fail_queued(NotReady("the server shut down before this request was processed"))
        self._incoming.put_nowait(None)  # room is kept for it: at most `capacity` clips are queued
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)

    # --- threads ------------------------------------------------------------------------------------

    def _collect_loop(self) -> None:
        stop = False
        while not stop:
            items, stop = collect_batch(
                self._incoming, max_size=self.max_batch_size, max_wait_s=self.max_wait_s, clock=self._clock
            )
            live = [item for item in items if not item.future.cancelled()]
            if live:
                try:
                    video = np.stack([item.frames for item in live])
                except Exception:  # clips of mismatched shapes: a wiring bug, fail just these
                    log.exception("could not stack a batch for model %s", self.model)
                    self._fail(live, InferenceFailed())
                    continue
                self._prepared.put(PreparedBatch(items=live, video=video))
        self._prepared.put(None)

    def _infer_loop(self) -> None:
        while (batch := self._prepared.get()) is not None:
            self._run(batch)

    def _run(self, batch: PreparedBatch) -> None:
        started = self._clock()
        count = len(batch.items)
        if self._metrics is not None:
            self._metrics.batch_size.labels(model=self.model).observe(count)
        try:
            outputs = self.runtime.infer(batch.video)
            rows = outputs.logits.shape[0]
            if rows != count:
                raise ValueError(f"runtime returned {rows} rows for a batch of {count}")
        except Exception:
            log.exception("inference failed for a batch of %d on model %s", count, self.model)
            self._fail(batch.items, InferenceFailed())
            return
        inference_s = self._clock() - started
        for i, item in enumerate(batch.items):
            result = ItemResult(
                logits=outputs.logits[i],
                temporal=None if outputs.temporal is None else outputs.temporal[i],
                spatial=None if outputs.spatial is None else outputs.spatial[i],
                queue_s=max(started - item.enqueued_at, 0.0),
                inference_s=inference_s,
                batch_size=count,
            )
            if self._metrics is not None:
                self._metrics.observe_inference(self.model, result.queue_s)
            _resolve(item.future, result)

    # --- bookkeeping --------------------------------------------------------------------------------

    def _fail(self, items: list[BatchItem], error: ServiceError) -> None:
        for item in items:
            _resolve(item.future, error)

    def _fail_queued(self, error: ServiceError) -> None:
        while True:
            try:
                item = self._incoming.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _resolve(item.future, error)

    def _on_done(self, _future: concurrent.futures.Future[ItemResult]) -> None:
        with self._lock:
            self._pending -= 1
            self._set_depth(self._pending)

    def _set_depth(self, depth: int) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.labels(model=self.model).set(depth)
