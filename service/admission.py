"""The one admission point: how many prediction requests each model may have in progress.

A request is admitted from its headers alone, before a byte of its body is read (`service.api.admit`, an
ASGI middleware in front of the upload routes), and holds its slot while it uploads, decodes, waits in the
batcher, runs and answers, so the limit bounds everything a request costs: upload buffers, decoder work
and batcher entries. Past the limit it is refused with `Overloaded` (503 + Retry-After): nothing is read,
parsed or decoded for it. This is why the limit lives here and not in the batcher: the batcher only sees a
request after its upload was read and decoded, too late to spare that work. (The batcher's own queue is
bounded too, see `service.batching`, but that bound is not an admission decision.)

A request past the limit may first wait, its body unread, for a slot to come back (`acquire_within`,
`admission_wait_ms`). While the line is no longer than the limit it is served in order: each waits about
one pass of the pipeline and none is refused. A longer line means overload, and then the newest waiter is
served first (adaptive LIFO): admitted requests waited least, and the ones refused are those that waited
longest, when their wait ends. The wait paces clients that retry at once whatever Retry-After says: each
costs the service one refusal per wait instead of one per round trip, so the refusals stop taking the
CPU the admitted requests need (measured with `vtserve bench overload`, see README). The line is bounded
(`admission_max_waiting`); past it, or with no wait set, the refusal is immediate.

The limit also bounds latency: by Little's law an admitted request waits about `in progress / throughput`,
so admitting much more than the pipeline keeps busy only makes every accepted request slower.
`admission_limit` derives a default from the batch size and the decoder pool (measured with
`vtserve bench overload`, see README).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from service.errors import Overloaded

if TYPE_CHECKING:
    from service.settings import Settings

# Batches the pipeline keeps busy at once: one running, one being collected behind it.
BATCHES_IN_FLIGHT = 2


def admission_limit(settings: Settings) -> int:
    """Requests a model may have in progress: `max_in_flight`, by default enough to fill the batches in
    flight plus one clip in each decoder worker, and no more (more only queues, raising latency); never
    more than `max_queue`, the batcher's bound."""
    derived = settings.max_batch_size * BATCHES_IN_FLIGHT + settings.decoder_workers
    wanted = settings.max_in_flight if settings.max_in_flight is not None else derived
    return min(wanted, settings.max_queue)


def waiting_room(settings: Settings) -> int:
    """Requests a model may have waiting for a slot: `admission_max_waiting`, none when there is no wait
    (`admission_wait_ms` 0: refused at once)."""
    return settings.admission_max_waiting if settings.admission_wait_ms > 0 else 0


class Slot:
    """One admitted request's place; `release` gives it back (once, however often it is called)."""

    __slots__ = ("_admission", "_released", "model")

    def __init__(self, admission: Admission, model: str) -> None:
        self._admission = admission
        self._released = False
        self.model = model

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._give_back(self.model)


class Admission:
    """Caps requests in progress per model (uploading, decoding, queued, in inference or answering).

    `acquire` checks and increments under a lock, with no `await` in between, so the cap cannot race;
    it is called from the event loop and from threads alike.
    """

    def __init__(self, limit: int, *, max_waiting: int = 0) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        if max_waiting < 0:
            raise ValueError("max_waiting must be at least 0")
        self.limit = limit
        self.max_waiting = max_waiting
        self._counts: dict[str, int] = {}
        self._waiting: dict[str, list[_Waiter]] = {}
        self._lock = threading.Lock()

    def acquire(self, model: str) -> Slot:
        """A slot of `model`'s, or `Overloaded` at once when all `limit` are held."""
        with self._lock:
            if not self._take(model):
                raise self._overloaded(model)
        return Slot(self, model)

    async def acquire_within(self, model: str, wait_s: float) -> Slot:
        """A slot of `model`'s, waiting up to `wait_s` for one to be given back (in the line's order, see
        `_give_back`); `Overloaded` when none came in time, or at once when `max_waiting` already wait."""
        with self._lock:
            if self._take(model):
                return Slot(self, model)
            line = self._waiting.setdefault(model, [])
            if wait_s <= 0 or len(line) >= self.max_waiting:
                raise self._overloaded(model)
            waiter = _Waiter(asyncio.get_running_loop())
            line.append(waiter)
        try:
            await asyncio.wait({waiter.future}, timeout=wait_s)
        except asyncio.CancelledError:
            self._abandon(model, waiter)
            raise
        if waiter.future.done():
            return waiter.future.result()
        if self._withdraw(model, waiter):
            raise self._overloaded(model)
        return await waiter.future  # a slot was handed over just as the wait ended: it is on its way

    @contextmanager
    def admit(self, model: str) -> Iterator[Slot]:
        """Hold one of `model`'s slots for the `with` block, or raise `Overloaded` at once."""
        slot = self.acquire(model)
        try:
            yield slot
        finally:
            slot.release()

    def count(self, model: str) -> int:
        return self._counts.get(model, 0)

    def waiting(self, model: str) -> int:
        return len(self._waiting.get(model, ()))

    def _take(self, model: str) -> bool:
        """Count one more of `model`'s slots as held if one is free (call with the lock held)."""
        count = self._counts.get(model, 0)
        if count >= self.limit:
            return False
        self._counts[model] = count + 1
        return True

    def _overloaded(self, model: str) -> Overloaded:
        return Overloaded(f"model {model!r} is at capacity ({self.limit} requests); retry later")

    def _give_back(self, model: str) -> None:
        """A slot came back: hand it to a waiter (it stays counted), else free it. A line no longer than
        `limit` is served in order (each waits about one pass of the pipeline); a longer one newest first."""
        with self._lock:
            line = self._waiting.get(model)
            if not line:
                self._counts[model] -= 1
                return
            waiter = line.pop() if len(line) > self.limit else line.pop(0)
        waiter.hand_over(Slot(self, model))

    def _withdraw(self, model: str, waiter: _Waiter) -> bool:
        """Take `waiter` out of the line; False when it was already handed a slot."""
        with self._lock:
            line = self._waiting.get(model, [])
            if waiter in line:
                line.remove(waiter)
                return True
            return False

    def _abandon(self, model: str, waiter: _Waiter) -> None:
        """The waiting request went away: leave the line, or give back the slot it was handed."""
        if self._withdraw(model, waiter):
            return
        if waiter.future.done():
            waiter.future.result().release()
        else:
            waiter.future.cancel()  # the hand-over still to run gives the slot back


class _Waiter:
    """A request waiting for a slot, on its event loop; slots come back from any thread."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Slot] = loop.create_future()

    def hand_over(self, slot: Slot) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver, slot)
        except RuntimeError:  # its loop is closed: nobody is waiting any more
            slot.release()

    def _deliver(self, slot: Slot) -> None:
        if self.future.done():  # it stopped waiting (cancelled) before the slot arrived
            slot.release()
        else:
            self.future.set_result(slot)
