"""The dynamic batcher without a server: collection, failure isolation, its bounded queue, overlap, drain."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time

import numpy as np
import pytest

from service.batching import Batcher, BatchItem, ItemResult, collect_batch
from service.errors import InferenceFailed, NotReady, Overloaded
from service.metrics import Metrics
from service.runtimes.base import InputSpec, RuntimeOutputs

SPEC = InputSpec(name="video", num_frames=2, height=4, width=4)


def clip(value: int) -> np.ndarray:
    return np.full(SPEC.shape(1)[1:], value, dtype=np.uint8)


class EchoRuntime:
    """Deterministic arithmetic 'model' for batcher tests: logits[i] = [mean pixel of clip i, batch size].

    It computes a real answer from its input, so wrong routing of results to requests is caught.
    """

    name = "echo"
    provider = "numpy"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.input_spec = SPEC
        self.calls: list[int] = []
        self.gate = gate

    def warmup(self) -> None:
        pass

    def infer(self, batch: np.ndarray) -> RuntimeOutputs:
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls.append(batch.shape[0])
        means = batch.reshape(batch.shape[0], -1).mean(axis=1)
        logits = np.stack([means, np.full_like(means, batch.shape[0])], axis=1).astype(np.float32)
        temporal = np.full((batch.shape[0], 2, 2), 0.5, dtype=np.float32)
        return RuntimeOutputs(logits=logits, temporal=temporal)

    def close(self) -> None:
        pass


class FailsWhenClipValueIs255(EchoRuntime):
    """A deliberately failing runtime: raises for any batch containing a clip whose pixels are all 255."""

    def infer(self, batch: np.ndarray) -> RuntimeOutputs:
        if (batch.reshape(batch.shape[0], -1) == 255).all(axis=1).any():
            raise RuntimeError("boom: secret internal detail")
        return super().infer(batch)


def item(value: int) -> BatchItem:
    import concurrent.futures

    return BatchItem(frames=clip(value), future=concurrent.futures.Future(), enqueued_at=0.0)


# --- collect_batch: the pure collection step ---------------------------------------------------------


def test_collect_takes_at_most_max_size() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    for v in range(5):
        q.put(item(v))
    items, stop = collect_batch(q, max_size=3, max_wait_s=1.0)
    assert [int(i.frames[0, 0, 0, 0]) for i in items] == [0, 1, 2]
    assert not stop
    items, _ = collect_batch(q, max_size=3, max_wait_s=0.0)
    assert len(items) == 2


def test_collect_returns_after_max_wait_with_a_partial_batch() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    q.put(item(1))
    started = time.monotonic()
    items, stop = collect_batch(q, max_size=8, max_wait_s=0.05)
    elapsed = time.monotonic() - started
    assert len(items) == 1 and not stop
    assert 0.04 <= elapsed < 1.0


def test_collect_waits_for_late_arrivals_within_max_wait() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    q.put(item(1))
    threading.Timer(0.02, lambda: q.put(item(2))).start()
    items, _ = collect_batch(q, max_size=8, max_wait_s=0.5)
    assert len(items) == 2


def test_collect_uses_the_injected_clock_for_the_deadline() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    for v in range(3):
        q.put(item(v))
    ticks = iter([0.0, 1000.0, 1000.0, 1000.0, 1000.0])  # the deadline (100 s) passes after the first get
    started = time.monotonic()
    items, _ = collect_batch(q, max_size=8, max_wait_s=100.0, clock=lambda: next(ticks))
    # past the deadline, items already queued are still taken, but nothing is waited for
    assert len(items) == 3
    assert time.monotonic() - started < 1.0


def test_collect_stops_at_the_sentinel_and_keeps_items_before_it() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    q.put(item(1))
    q.put(None)
    q.put(item(2))
    items, stop = collect_batch(q, max_size=8, max_wait_s=1.0)
    assert len(items) == 1 and stop
    assert q.get_nowait() is not None  # nothing after the sentinel was consumed


def test_collect_idle_timeout_returns_nothing() -> None:
    q: queue.SimpleQueue[BatchItem | None] = queue.SimpleQueue()
    assert collect_batch(q, max_size=4, max_wait_s=0.0, idle_timeout_s=0.01) == ([], False)
    with pytest.raises(ValueError):
        collect_batch(q, max_size=0, max_wait_s=0.0)


# --- the batcher ----------------------------------------------------------------------------------


def make_batcher(runtime: EchoRuntime, *, start: bool = True, **kw: object) -> Batcher:
    options: dict[str, object] = {"model": "m", "max_batch_size": 4, "max_wait_s": 0.05, "capacity": 16}
    options.update(kw)
    batcher = Batcher(runtime, **options)  # type: ignore[arg-type]
    if start:
        batcher.start()
    return batcher


def test_results_go_to_the_right_requests_and_batches_form() -> None:
    metrics = Metrics()
    runtime = EchoRuntime()
    batcher = make_batcher(runtime, metrics=metrics)
    futures = [batcher.submit(clip(v)) for v in range(10)]
    results = [f.result(10) for f in futures]
    batcher.close()
    assert [float(r.logits[0]) for r in results] == list(range(10))
    assert max(runtime.calls) > 1 and max(runtime.calls) <= 4 and sum(runtime.calls) == 10
    assert all(r.batch_size == int(r.logits[1]) for r in results)
    assert results[0].temporal is not None and results[0].temporal.shape == (2, 2)
    assert batcher.depth == 0
    assert metrics.registry.get_sample_value("vtserve_batch_size_count", {"model": "m"}) == len(runtime.calls)
    assert metrics.registry.get_sample_value("vtserve_queue_depth", {"model": "m"}) == 0


def test_a_failing_batch_fails_only_its_own_requests_and_the_loop_keeps_serving() -> None:
    runtime = FailsWhenClipValueIs255()
    batcher = make_batcher(runtime, max_batch_size=2, max_wait_s=0.2)
    bad = [batcher.submit(clip(255)), batcher.submit(clip(1))]  # one batch of 2, with the poison clip
    for f in bad:
        with pytest.raises(InferenceFailed) as info:
            f.result(10)
        assert "secret" not in info.value.message
    good = [batcher.submit(clip(v)) for v in (2, 3, 4)]
    assert [float(f.result(10).logits[0]) for f in good] == [2.0, 3.0, 4.0]
    batcher.close()
    assert batcher.depth == 0


def test_a_full_queue_refuses_at_once_and_frees_up_as_it_drains() -> None:
    # not collecting yet: clips wait in the queue as they would behind a runtime that hangs
    batcher = make_batcher(EchoRuntime(), start=False, capacity=3)
    queued = [batcher.submit(clip(v)) for v in range(3)]
    started = time.monotonic()
    with pytest.raises(Overloaded):
        batcher.submit(clip(9))
    assert time.monotonic() - started < 0.1
    batcher.start()
    assert [float(f.result(10).logits[0]) for f in queued] == [0.0, 1.0, 2.0]
    batcher.submit(clip(1)).result(10)  # room is given back as the queue drains
    batcher.close()
    assert batcher.depth == 0


def test_the_queue_bound_holds_under_concurrent_submitters() -> None:
    batcher = make_batcher(EchoRuntime(), start=False, capacity=5)
    accepted: list[concurrent.futures.Future[ItemResult]] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def submit() -> None:
        try:
            f = batcher.submit(clip(1))
            with lock:
                accepted.append(f)
        except Overloaded as exc:
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 5 and len(refused) == 35
    batcher.start()
    batcher.close(drain=True, timeout_s=10)
    assert all(f.done() and f.exception() is None for f in accepted)


def test_next_batch_is_prepared_while_the_current_one_runs() -> None:
    gate = threading.Event()
    runtime = EchoRuntime(gate)
    batcher = make_batcher(runtime, max_batch_size=2, max_wait_s=0.01)
    futures = [batcher.submit(clip(v)) for v in range(4)]
    deadline = time.monotonic() + 5
    # batch 1 is inside infer (blocked on the gate); batch 2 must be collected and stacked meanwhile
    while batcher._prepared.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert batcher._prepared.qsize() == 1
    gate.set()
    assert [float(f.result(10).logits[0]) for f in futures] == [0.0, 1.0, 2.0, 3.0]
    batcher.close()


def test_close_drains_admitted_work_then_refuses() -> None:
    gate = threading.Event()
    batcher = make_batcher(EchoRuntime(gate), max_batch_size=2)
    futures = [batcher.submit(clip(v)) for v in range(5)]
    threading.Timer(0.05, gate.set).start()
    batcher.close(drain=True, timeout_s=10)
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(NotReady):
        batcher.submit(clip(1))


def test_close_without_drain_fails_queued_work_with_not_ready() -> None:
    gate = threading.Event()
    batcher = make_batcher(EchoRuntime(gate), max_batch_size=1, max_wait_s=0.0)
    futures = [batcher.submit(clip(v)) for v in range(6)]
    time.sleep(0.05)
    closer = threading.Thread(target=batcher.close, kwargs={"drain": False, "timeout_s": 10})
    closer.start()
    time.sleep(0.05)
    gate.set()
    closer.join(10)
    outcomes = [type(f.exception(10)).__name__ if f.exception(10) else "ok" for f in futures]
    assert "NotReady" in outcomes and outcomes[0] == "ok"


def test_mismatched_clip_shapes_fail_only_that_batch() -> None:
    batcher = make_batcher(EchoRuntime(), max_batch_size=2, max_wait_s=0.2)
    wrong = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    a, b = batcher.submit(clip(1)), batcher.submit(wrong)
    for f in (a, b):
        with pytest.raises(InferenceFailed):
            f.result(10)
    assert float(batcher.submit(clip(7)).result(10).logits[0]) == 7.0
    batcher.close()
