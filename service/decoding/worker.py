"""The decoder worker process: resource limits, then a loop answering decode jobs over a pipe.

Runs in a child started with the ``forkserver`` (or ``spawn``) context, never plain ``fork``. Before the
first job the process:

* caps its address space (``RLIMIT_AS``) at its idle size plus ``memory_mb``, forbids writing files
  (``RLIMIT_FSIZE = 0``) and core dumps (``RLIMIT_CORE = 0``); before each job its CPU-time soft limit
  (``RLIMIT_CPU``) is set to the time used so far plus ``cpu_s``, so ``SIGXCPU`` ends a runaway job;
* points stdin/stdout/stderr at ``/dev/null`` (FFmpeg's messages never reach the client or the logs, and
  never hit ``RLIMIT_FSIZE`` when the parent's stderr is a file) and ignores ``SIGINT`` (the parent
  decides when workers stop).

Jobs are ``(kind, data, request)`` tuples; replies are ``("ok", result)`` or ``("error", exc, detail)``
where ``exc`` is a :class:`~service.errors.ServiceError` (pickled, so the caller re-raises the same class)
and ``detail`` is a traceback for unexpected errors, for the parent's log only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Literal

from service.decoding.decoder import decode_clip, decode_clips
from service.decoding.source import Source
from service.decoding.streaming import serve_windows
from service.decoding.types import DecodedClip, DecodeLimits, DecodeRequest
from service.errors import ServiceError, Undecodable

#: "clip": one clip; "clips": a request's whole clip plan (multi-view); "windows": a timeline, answered
#: window by window (`streaming.serve_windows`); "ping": the worker's pid.
JobKind = Literal["clip", "clips", "windows", "ping"]

_M_ARENA_MAX = -8  # glibc mallopt parameter


def _limit_malloc_arenas() -> None:
    """Decoder threads each get a 64 MB malloc arena of address space by default; cap the arenas."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).mallopt(_M_ARENA_MAX, 2)


def _address_space_bytes() -> int:
    """This process's current virtual size (VmSize), bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def harden_process(memory_mb: int) -> None:
    """Apply the process-wide limits described in the module docstring."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _limit_malloc_arenas()
    try:
        import av.logging

        av.logging.set_level(None)
    except (ImportError, AttributeError):
        pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    if memory_mb > 0:
        limit = _address_space_bytes() + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def set_cpu_budget(cpu_s: int) -> None:
    """Allow ``cpu_s`` more CPU seconds from now (soft limit; the hard limit is left alone)."""
    if cpu_s <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_s
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def run_job(
    kind: JobKind, data: Source, request: DecodeRequest | None, limits: DecodeLimits
) -> DecodedClip | tuple[DecodedClip, ...] | int:
    """One job, in-process (the worker loop's body): ``"clip"``/``"clips"`` decode, ``"ping"`` answers
    the pid. ``data`` is the upload's bytes or the path of its spooled file."""
    if kind == "ping":
        return os.getpid()
    if kind not in ("clip", "clips"):
        raise ValueError(f"unknown job kind {kind!r}")
    if request is None:
        raise ValueError("a clip job needs a request")
    return decode_clip(data, request, limits) if kind == "clip" else decode_clips(data, request, limits)


def worker_main(conn: Connection, limits: DecodeLimits, memory_mb: int, cpu_s: int) -> None:
    """Entry point of a worker process: harden, say ready, then answer jobs until told to stop."""
    harden_process(memory_mb)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        kind, data, request = job
        set_cpu_budget(cpu_s)
        if kind == "windows":  # decoded at a lower priority: the worker retires after it
            serve_windows(conn, data, request, limits, lambda: set_cpu_budget(cpu_s))
            return
        try:
            reply: tuple[object, ...] = ("ok", run_job(kind, data, request, limits))
        except ServiceError as exc:
            reply = ("error", exc, None)
        except Exception:  # a bug, not the upload's fault alone: log it in the parent
            reply = ("error", Undecodable(), traceback.format_exc(limit=20))
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
