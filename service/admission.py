"""The one admission point: how many prediction requests each model may have in progress.

A request is admitted from its headers alone, before a byte of its body is read (`service.api.admit`, an
ASGI middleware in front of the upload routes), and holds its slot while it uploads, decodes, waits in the
batcher, runs and answers, so the limit bounds everything a request costs: upload buffers, decoder work
and batcher entries. Past the limit it is refused at once with `Overloaded` (503 + Retry-After): nothing
is read, parsed or decoded for it. This is why the limit lives here and not in the batcher: the batcher
only sees a request after its upload was read and decoded, too late to spare that work. (The batcher's
own queue is bounded too, see `service.batching`, but that bound is not an admission decision.)

The limit also bounds latency: by Little's law an admitted request waits about `in progress / throughput`,
so admitting much more than the pipeline keeps busy only makes every accepted request slower.
`admission_limit` derives a default from the batch size and the decoder pool (measured with
`vtserve bench overload`, see README).
"""

from __future__ import annotations

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

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the admission limit must be at least 1")
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, model: str) -> Slot:
        """A slot of `model`'s, or `Overloaded` at once when all `limit` are held."""
        with self._lock:
            count = self._counts.get(model, 0)
            if count >= self.limit:
                raise Overloaded(f"model {model!r} is at capacity ({self.limit} requests); retry later")
            self._counts[model] = count + 1
        return Slot(self, model)

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

    def _give_back(self, model: str) -> None:
        with self._lock:
            self._counts[model] -= 1
