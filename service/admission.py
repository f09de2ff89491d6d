"""The one admission point: how many prediction requests each model may have in progress.

A request is admitted before its upload is read and holds its slot while it uploads, decodes, waits in
the batcher and runs, so `max_queue` bounds everything a request costs: upload buffers, decoder work and
batcher entries. Past the cap it is refused at once with `Overloaded` (503 + Retry-After), before a byte
of the upload is read. This is why the cap lives here and not in the batcher: the batcher only sees a
request after its upload was read and decoded, too late to spare that work. (The batcher's own queue is
bounded too, see `service.batching`, but that bound is not an admission decision.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import Overloaded


class Admission:
    """Caps requests in progress per model (uploading, decoding, queued or in inference).

    `admit` checks and increments under a lock, with no `await` in between, so the cap cannot race.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def admit(self, model: str) -> Iterator[None]:
        """Hold one of `model`'s slots for the `with` block, or raise `Overloaded` at once."""
        with self._lock:
            count = self._counts.get(model, 0)
            if count >= self._limit:
                raise Overloaded(f"model {model!r} is at capacity ({self._limit} requests); retry later")
            self._counts[model] = count + 1
        try:
            yield
        finally:
            with self._lock:
                self._counts[model] -= 1

    def count(self, model: str) -> int:
        return self._counts.get(model, 0)
