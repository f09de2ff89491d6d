"""A timeline's conversation with the decoder worker lent to it: both ends of the pipe protocol.

The parent sends ``("windows", source, request)``; the worker (:func:`serve_windows`) answers with the
plan, then waits. Each ``"next"`` asks for one more reply: a window, ``("end",)`` after the last, or an
error. ``"stop"`` ends the job early. The worker decodes a timeline at a lower CPU priority and exits after
it (the pool replaces it), so single clips keep their share of the CPU while a long timeline runs.

The parent end, :class:`WindowStream`, asks for the next window as soon as it receives one, so the worker
decodes window k+1 while the service runs window k through the model, and is never more than one window
ahead: back-pressure is built in, and stopping waits for one window at most. Every wait on the worker is
bounded by the pool's per-job timeout, which here applies to each window rather than to the whole video;
a worker that does not answer in time is killed and replaced, as for single clips.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Generator
from multiprocessing.connection import Connection

from service.decoding.forward import decode_windows
from service.decoding.source import Source
from service.decoding.types import DecodeLimits
from service.decoding.windows import DecodedWindow, TimelinePlan, WindowRequest
from service.errors import DecoderCrashed, DecodeTimeout, ServiceError, Undecodable

logger = logging.getLogger(__name__)

#: How long `close` waits for the window being decoded before it kills the worker instead.
STOP_GRACE_S = 2.0
#: The niceness a worker decodes a timeline at: a long timeline yields the CPU to single clips, which are
#: decoded by the other workers at normal priority, and uses it fully when nobody else needs it.
TIMELINE_NICE = 10

Item = TimelinePlan | DecodedWindow
Reply = tuple[object, ...]
#: Hands the worker back once the job is over: True = it ended normally (the worker exits by itself and is
#: retired), False = kill and replace it; returns its exit code.
Release = Callable[[bool], int | None]


# --- the worker's end ------------------------------------------------------------------------------


def _step(windows: Generator[Item, None, None]) -> Reply:
    try:
        return ("ok", next(windows))
    except StopIteration:
        return ("end",)
    except ServiceError as exc:
        return ("error", exc, None)
    except Exception:  # a bug, not the upload's fault alone: logged by the parent
        return ("error", Undecodable(), traceback.format_exc(limit=20))


def serve_windows(
    conn: Connection, source: Source, request: WindowRequest, limits: DecodeLimits, budget: Callable[[], None]
) -> None:
    """Answer one timeline job (run in the worker), at a lower CPU priority (``TIMELINE_NICE``).

    A worker cannot raise its priority again once lowered, so it serves nothing after a timeline: the
    caller exits and the pool starts a fresh worker (``DecoderPool.open_windows``). ``budget`` renews the
    worker's CPU-time allowance; it is called before each window.
    """
    with contextlib.suppress(OSError):
        os.nice(TIMELINE_NICE)  # this thread, and the decoder threads it starts from here on
    windows = decode_windows(source, request, limits)
    try:
        while True:
            reply = _step(windows)
            conn.send(reply)
            if reply[0] != "ok":
                return
            if conn.recv() != "next":  # "stop", or None when the pool shuts down
                return
            budget()
    except (EOFError, OSError, ValueError):
        return  # the parent went away
    finally:
        windows.close()


# --- the parent's end ------------------------------------------------------------------------------


class WindowStream:
    """A decoder worker lent to one timeline. Blocking: call it from a thread, never the event loop.

    :meth:`next` returns the plan, then each window in order, then None. :meth:`close` (idempotent) ends
    the job and hands the worker back; it waits for the window being decoded at most ``STOP_GRACE_S``.
    """

    def __init__(self, conn: Connection, timeout_s: float, release: Release) -> None:
        self._conn = conn
        self._timeout_s = timeout_s
        self._release = release
        self._lock = threading.Lock()
        self._pending = True  # a reply is on its way (the plan first)
        self._done = False  # the worker is back with the pool (or gone)

    def _receive(self, timeout_s: float) -> Reply:
        """The worker's next reply; on silence or death the worker is replaced and this raises."""
        try:
            if not self._conn.poll(timeout_s):
                self._finish(healthy=False)
                raise DecodeTimeout(f"decoding a window took longer than {timeout_s:g} s")
            reply: Reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            exitcode = self._finish(healthy=False)
            logger.warning("decoder worker died during a timeline (exit code %s)", exitcode)
            if exitcode == -signal.SIGXCPU:
                raise DecodeTimeout("decoding used up its CPU-time budget") from exc
            raise DecoderCrashed() from exc
        self._pending = False
        return reply

    def _finish(self, *, healthy: bool) -> int | None:
        self._done = True
        self._pending = False
        return self._release(healthy)

    def next(self) -> Item | None:
        """The next item (the plan first), None after the last window; raises the job's error."""
        with self._lock:
            if self._done:
                return None
            reply = self._receive(self._timeout_s)
            if reply[0] == "ok":
                self._conn.send("next")  # the worker decodes the next window meanwhile
                self._pending = True
                item = reply[1]
                assert isinstance(item, TimelinePlan | DecodedWindow)
                return item
            self._finish(healthy=True)
            if reply[0] == "end":
                return None
            _, error, detail = reply
            if detail:
                logger.error("unexpected error in a decoder worker during a timeline:\n%s", detail)
            assert isinstance(error, ServiceError)
            raise error

    def close(self) -> None:
        """Stop the job (the worker finishes the window it is on, or is killed after ``STOP_GRACE_S``)."""
        with self._lock:
            if self._done:
                return
            if self._pending:
                try:
                    reply = self._receive(min(STOP_GRACE_S, self._timeout_s))
                except ServiceError:
                    return  # the worker was replaced
                if reply[0] != "ok":
                    self._finish(healthy=True)  # the job had ended by itself
                    return
            try:
                self._conn.send("stop")
            except (OSError, ValueError):
                self._finish(healthy=False)
                return
            self._finish(healthy=True)

    @property
    def done(self) -> bool:
        return self._done
