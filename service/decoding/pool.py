"""``DecoderPool``: decoding in resource-limited worker processes with a wall-clock timeout.

It implements the service's :class:`~service.decoding.protocol.Decoder`.

Each worker is a process (``forkserver`` context, preloaded with the decoder; never plain ``fork``, since
the service runs threads and an event loop) connected by a pipe. A request borrows an idle worker, sends
``(kind, bytes, request)`` and waits for the reply at most ``timeout_s``:

* a reply carrying a :class:`~service.errors.ServiceError` is re-raised as the same class;
* no reply in time: the worker is killed and replaced, the request raises ``DecodeTimeout`` (retryable);
* the worker died (signal, ``RLIMIT_AS``, ``RLIMIT_CPU``): it is replaced, the request raises
  ``DecoderCrashed`` (retryable) — or ``DecodeTimeout`` when it was the CPU-time limit.

The pool keeps serving throughout. Results come back pickled over the pipe: for an 8×224×224×3 clip
(1.2 MB) and a small upload the round trip costs about 2.5 ms more than decoding in-process (pickling
itself 0.4 ms; ``bench/decode.py`` measures it), so no shared memory is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.context
import queue
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

from service.decoding.source import Source
from service.decoding.streaming import WindowStream
from service.decoding.types import DecodedClip, DecodeLimits, DecodeRequest
from service.decoding.windows import WindowRequest
from service.decoding.worker import JobKind, worker_main
from service.errors import DecoderCrashed, DecodeTimeout, ServiceError

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0
_REFILL_CHECK_S = 1.0


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Only takes effect if the fork server has not started yet; harmless otherwise.
        ctx.set_forkserver_preload(["service.decoding.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass(kw_only=True)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    pid: int


class DecoderPool:
    """A fixed number of decoder worker processes.

    ``memory_mb`` is the address space each worker may grow by beyond its idle size (``RLIMIT_AS``),
    ``cpu_s`` the CPU seconds one request may use (``RLIMIT_CPU``), ``timeout_s`` the wall-clock limit
    of one request. ``decode`` is awaitable (it waits in a thread, never on the event loop);
    ``decode_blocking`` serves command-line tools.
    """

    def __init__(
        self, workers: int, limits: DecodeLimits, timeout_s: float, memory_mb: int = 1024, cpu_s: int = 30
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.limits = limits
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.cpu_s = cpu_s
        self.size = workers
        self._ctx = _context()
        self._lock = threading.Lock()
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._workers: dict[int, _Worker] = {}
        self._closed = False
        self.replaced = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decoder-pool")
        try:
            for _ in range(workers):
                self._idle.put(self._spawn())
        except BaseException:
            self.close()
            raise

    # --- worker lifecycle --------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(child, self.limits, self.memory_mb, self.cpu_s),
            name="vtserve-decoder",
            daemon=True,
        )
        process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S):
            process.kill()
            process.join(5)
            raise DecoderCrashed("a decoder worker failed to start")
        try:
            _tag, pid = parent.recv()
        except (EOFError, OSError) as exc:
            process.join(5)
            raise DecoderCrashed("a decoder worker failed to start") from exc
        worker = _Worker(process=process, conn=parent, pid=int(pid))
        with self._lock:
            self._workers[worker.pid] = worker
        return worker

    def _discard(self, worker: _Worker) -> int | None:
        """Kill (if needed) and reap a worker; return its exit code."""
        with self._lock:
            self._workers.pop(worker.pid, None)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()
        return worker.process.exitcode

    def _replace(self, worker: _Worker) -> int | None:
        """A worker that failed (crash, timeout, broken pipe): reap it, count it, start a fresh one."""
        return self._retire(worker, failed=True)

    def _retire(self, worker: _Worker, *, failed: bool = False) -> int | None:
        """A worker that ended its job by exiting (after a timeline): reap it, start a fresh one. Only a
        replacement after a failure (`failed`) counts in `replaced`."""
        exitcode = self._discard(worker)
        if failed:
            self.replaced += 1
        if not self._closed:
            try:
                self._idle.put(self._spawn())
            except ServiceError:
                logger.exception("could not start a decoder worker; the pool is one worker short")
        return exitcode

    @property
    def alive_workers(self) -> int:
        """How many worker processes are alive right now."""
        with self._lock:
            workers = list(self._workers.values())
        return sum(1 for w in workers if w.process.is_alive())

    @property
    def worker_pids(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(self._workers)

    # --- requests ----------------------------------------------------------------------------------

    def _borrow(self) -> _Worker:
        """An idle, live worker; workers found dead while idle are replaced without failing anyone.

        Waits while all workers are busy. If the pool has fallen short (a replacement failed to start),
        a waiting request starts the missing worker itself rather than waiting forever.
        """
        dead = 0
        while dead <= self.size:
            try:
                worker = self._idle.get(timeout=_REFILL_CHECK_S)
            except queue.Empty:  # all busy, or the pool is short of workers
                worker = self._refill()
                if worker is None:
                    continue
            if worker is None:  # close() woke us up
                self._idle.put(None)
                raise DecoderCrashed("the decoder pool is closed")
            if worker.process.is_alive():
                return worker
            dead += 1
            self._replace(worker)
        raise DecoderCrashed("decoder workers keep dying")

    def _refill(self) -> _Worker | None:
        with self._lock:
            short = len(self._workers) < self.size
        if not short or self._closed:
            return None
        return self._spawn()

    def _run(self, kind: JobKind, data: Source, request: DecodeRequest | None) -> object:
        if self._closed:
            raise DecoderCrashed("the decoder pool is closed")
        worker = self._borrow()
        try:
            worker.conn.send((kind, data, request))
            if not worker.conn.poll(self.timeout_s):
                self._replace(worker)
                raise DecodeTimeout(f"decoding took longer than {self.timeout_s:g} s")
            reply = worker.conn.recv()
        except (EOFError, OSError) as exc:
            exitcode = self._replace(worker)
            logger.warning("decoder worker %d died (exit code %s)", worker.pid, exitcode)
            if exitcode == -signal.SIGXCPU:
                raise DecodeTimeout("decoding used up its CPU-time budget") from exc
            raise DecoderCrashed() from exc
        self._idle.put(worker)
        if reply[0] == "ok":
            result: object = reply[1]
            return result
        _, error, detail = reply
        if detail:
            logger.error("unexpected error in decoder worker %d:\n%s", worker.pid, detail)
        raise error

    def decode_blocking(self, data: Source, request: DecodeRequest) -> DecodedClip:
        """Decode a one-clip request in a worker (``decoder.decode_clip``), blocking the calling thread.

        ``data`` is the upload's bytes, or the path of its spooled file (the worker opens it; the bytes
        never cross the pipe)."""
        return cast(DecodedClip, self._run("clip", data, request))

    async def decode(self, data: Source, request: DecodeRequest) -> DecodedClip:
        """Decode a one-clip request in a worker without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.decode_blocking, data, request)

    def decode_views_blocking(self, data: Source, request: DecodeRequest) -> tuple[DecodedClip, ...]:
        """Every clip of a request's clip plan (multi-view: ``decoder.decode_clips``) in one worker job."""
        return cast(tuple[DecodedClip, ...], self._run("clips", data, request))

    async def decode_views(self, data: Source, request: DecodeRequest) -> tuple[DecodedClip, ...]:
        """:meth:`decode_views_blocking` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.decode_views_blocking, data, request)

    def open_windows(self, source: Path, request: WindowRequest) -> WindowStream:
        """Lend a worker to one timeline over the spooled file ``source`` (``streaming``); blocks while
        every worker is busy. When the stream ends or is closed the worker, which decoded at a lower CPU
        priority, exits and a fresh one takes its place."""
        if self._closed:
            raise DecoderCrashed("the decoder pool is closed")
        worker = self._borrow()
        try:
            worker.conn.send(("windows", source, request))
        except (OSError, ValueError) as exc:
            self._replace(worker)
            raise DecoderCrashed() from exc

        def release(healthy: bool) -> int | None:
            return self._retire(worker) if healthy else self._replace(worker)

        return WindowStream(worker.conn, self.timeout_s, release)

    @property
    def idle_workers(self) -> int:
        """Workers waiting for a job right now (approximate while jobs start and end)."""
        return self._idle.qsize()

    def ping(self) -> int:
        """Round-trip to one worker; returns its pid (health checks, tests)."""
        return cast(int, self._run("ping", b"", None))

    # --- shutdown ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop all workers (idempotent). Requests in flight fail with ``DecoderCrashed``."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(1)
            self._discard(worker)
        self._idle.put(None)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
