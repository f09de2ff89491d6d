"""Batches made ahead in worker processes are the batches the training loop would make itself."""

from __future__ import annotations

from functools import partial

import numpy as np

from models.demo.data import Mix, TrainBatch, paired_batch
from models.demo.loader import Batches

MAKE = partial(paired_batch, 3, batch_size=4, num_frames=8, size=32, mix=Mix(h264=0.0))


def _make(step: int, max_difficulty: float) -> TrainBatch:
    return MAKE(step, max_difficulty=max_difficulty)


def _same(a: TrainBatch, b: TrainBatch) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("clips", "labels", "cover", "motion"))


def test_workers_make_the_same_batches_in_order() -> None:
    def schedule(k: int) -> float:
        return min(1.0, 0.2 * k)

    inline = Batches(_make)
    with Batches(_make, workers=2, depth=3) as ahead:
        for step in (0, 1, 2, 5, 6):  # 3 and 4 skipped: queued ones are dropped
            assert _same(ahead.get(step, schedule), inline.get(step, schedule)), step
        assert not ahead._queued or min(ahead._queued) > 6


def test_a_batch_follows_the_difficulty_it_was_made_for() -> None:
    with Batches(_make, workers=1) as ahead:
        easy, hard = ahead.get(0, lambda k: 0.0), _make(0, 1.0)
    assert _same(easy, _make(0, 0.0)) and not _same(easy, hard)
