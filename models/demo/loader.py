"""Training batches made ahead of the optimiser, in worker processes (`Batches`).

Rendering a batch is numpy work on one core (~0.1 s for 16 clips at 64²). On a machine with spare cores
(a GPU host) the optimiser would wait for it, so `Batches` keeps the next `depth` batches in flight in a
pool of forked processes. Batch `k` is still a pure function of `(k, difficulty)` (`data.paired_batch`):
each is made for the difficulty the schedule gives step `k`, so a run by steps sees the same batches with
any number of workers; with a time budget the difficulty is the one foreseen when the batch was queued.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

from models.demo.data import TrainBatch

Make = Callable[[int, float], TrainBatch]  # (step, max difficulty) -> batch

_make: Make | None = None  # each worker's batch maker, inherited when the pool forks


def _keep(make: Make) -> None:
    global _make
    _make = make


def _made(step: int, max_difficulty: float) -> TrainBatch:
    assert _make is not None, "worker started without a batch maker"
    return _make(step, max_difficulty)


class Batches:
    """`get(step, difficulty_at)` returns batch `step`; with `workers` > 0 the following `depth` batches
    are already being made. `difficulty_at(k)` is the schedule's max difficulty for step `k`."""

    def __init__(self, make: Make, *, workers: int = 0, depth: int | None = None) -> None:
        self._make = make
        self._depth = depth if depth is not None else 2 * workers
        self._queued: dict[int, Future[TrainBatch]] = {}
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            # fork: the workers inherit `make` (and the H.264 pool it holds) instead of pickling it
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_keep, initargs=(make,))
            self._pool.submit(abs, 0).result(timeout=60)  # with fork all workers start now, before CUDA

    def get(self, step: int, difficulty_at: Callable[[int], float]) -> TrainBatch:
        if self._pool is None:
            return self._make(step, difficulty_at(step))
        for k in range(step, step + self._depth + 1):
            if k not in self._queued:
                self._queued[k] = self._pool.submit(_made, k, difficulty_at(k))
        for k in [k for k in self._queued if k < step]:  # a resumed or skipped range
            self._queued.pop(k).cancel()
        return self._queued.pop(step).result(timeout=600)

    def close(self) -> None:
        if self._pool is not None:
            for future in self._queued.values():
                future.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._queued.clear()

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
