"""DecoderPool: results equal in-process decoding, errors keep their class, workers are limited, and a
worker that crashes or times out is replaced while the pool keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from service.decoding import DecodedClip, DecodeLimits, DecodeRequest, DecoderPool, decode_clip
from service.errors import DecoderCrashed, DecodeTimeout, NoVideoStream, ServiceError
from tests.service.decoding import synth

LIMITS = DecodeLimits()
REQUEST = DecodeRequest(num_frames=8, short_side=128, crop_size=112)
MediaFn = Callable[[str], Path]


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    with DecoderPool(2, LIMITS, timeout_s=20.0, memory_mb=1024, cpu_s=20) as p:
        yield p


def _limits_of(pid: int) -> dict[str, str]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): row[26:].split()[0] for row in rows}


def test_results_equal_in_process_decoding(pool: DecoderPool, media: MediaFn) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    remote = pool.decode_blocking(data, REQUEST)
    local = decode_clip(data, REQUEST, LIMITS)
    np.testing.assert_array_equal(remote.frames, local.frames)
    assert (remote.indices, remote.stream_index, remote.width) == (
        local.indices,
        local.stream_index,
        local.width,
    )


def test_domain_errors_keep_their_class(pool: DecoderPool, media: MediaFn) -> None:
    with pytest.raises(NoVideoStream) as info:
        pool.decode_blocking(media("sine_mono_s16.wav").read_bytes(), REQUEST)
    assert info.value.code == "no_video_stream"
    assert pool.alive_workers == 2


def test_async_decode_runs_off_the_event_loop(pool: DecoderPool) -> None:
    data = synth.encode_clip(codec="libx265", options={"x265-params": "log-level=none"})

    async def main() -> tuple[list[DecodedClip], int]:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        clips = await asyncio.gather(*(pool.decode(data, REQUEST) for _ in range(6)))
        stop = True
        await task
        return list(clips), ticks

    clips, ticks = asyncio.run(main())
    assert len(clips) == 6 and all(c.frames.shape == (8, 112, 112, 3) for c in clips)
    assert ticks > 1  # the loop kept running while workers decoded
    assert clips[0].codec == "hevc"


def test_workers_run_with_resource_limits(pool: DecoderPool) -> None:
    pool.ping()
    for pid in pool.worker_pids:
        limits = _limits_of(pid)
        assert limits["Max file size"] == "0"
        assert limits["Max core file size"] == "0"
        assert limits["Max address space"] != "unlimited"
        assert limits["Max cpu time"] != "unlimited"  # set before each job
    assert all(pid != os.getpid() for pid in pool.worker_pids)


def test_timeout_kills_and_replaces_the_worker(media: MediaFn) -> None:
    data = media("nasa_13013.mp4").read_bytes()
    with DecoderPool(1, LIMITS, timeout_s=0.001) as pool:
        (before,) = pool.worker_pids
        with pytest.raises(DecodeTimeout) as info:
            pool.decode_blocking(data, REQUEST)
        assert info.value.retryable and info.value.code == "decode_timeout"
        assert pool.alive_workers == 1 and pool.worker_pids != (before,)
        pool.timeout_s = 20.0
        assert pool.decode_blocking(data, REQUEST).frames.shape == (8, 112, 112, 3)


def _kill_while_busy(pool: DecoderPool, data: bytes, sig: int) -> ServiceError | None:
    """Send ``sig`` to the worker while it holds a request, return what the request raised.

    The worker is stopped (SIGSTOP) before the request goes out, so it is certainly mid-request when
    the signal lands, however fast the machine.
    """
    (pid,) = pool.worker_pids
    outcome: list[ServiceError | None] = []

    def run() -> None:
        try:
            pool.decode_blocking(data, REQUEST)
            outcome.append(None)
        except ServiceError as exc:
            outcome.append(exc)

    os.kill(pid, signal.SIGSTOP)
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.1)
    os.kill(pid, sig)
    os.kill(pid, signal.SIGCONT)
    thread.join(30)
    return outcome[0]


@pytest.mark.parametrize(
    ("sig", "error"), [(signal.SIGKILL, DecoderCrashed), (signal.SIGXCPU, DecodeTimeout)]
)
def test_a_worker_dying_mid_request_is_replaced(sig: int, error: type[ServiceError]) -> None:
    small = synth.encode_clip()
    with DecoderPool(1, LIMITS, timeout_s=20.0) as pool:
        (before,) = pool.worker_pids
        raised = _kill_while_busy(pool, small, sig)
        assert isinstance(raised, error) and raised.retryable
        assert pool.alive_workers == 1 and pool.worker_pids != (before,) and pool.replaced == 1
        assert pool.decode_blocking(small, REQUEST).frames.shape == (8, 112, 112, 3)


def test_a_worker_dead_while_idle_is_replaced_without_failing_a_request() -> None:
    with DecoderPool(1, LIMITS, timeout_s=20.0) as pool:
        (pid,) = pool.worker_pids
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        assert pool.alive_workers == 0
        clip = pool.decode_blocking(synth.encode_clip(), REQUEST)
        assert clip.frames.shape == (8, 112, 112, 3) and pool.alive_workers == 1


def test_memory_limit_turns_a_big_decode_into_an_error_not_an_oom() -> None:
    # 8 MB of address space above idle cannot hold one 4K frame (12.4 MB as yuv420p) whatever the decoder's
    # thread count (a single-threaded 1080p decode fits in 8 MB on one core): allocations fail inside
    # FFmpeg, the request gets a domain error and the pool goes on serving; with room the same clip decodes
    data = synth.encode_clip(width=3840, height=2160, frames=2)
    with DecoderPool(1, LIMITS, timeout_s=20.0, memory_mb=8) as pool:
        with pytest.raises(ServiceError):
            pool.decode_blocking(data, REQUEST)
        assert pool.alive_workers == 1
    with DecoderPool(1, LIMITS, timeout_s=20.0, memory_mb=256) as pool:
        assert pool.decode_blocking(data, REQUEST).frames.shape == (8, 112, 112, 3)


def test_close_stops_every_worker() -> None:
    pool = DecoderPool(2, LIMITS, timeout_s=5.0)
    pids = pool.worker_pids
    pool.close()
    assert pool.alive_workers == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    with pytest.raises(DecoderCrashed):
        pool.decode_blocking(b"x", REQUEST)


def test_a_pool_short_of_workers_refills_itself() -> None:
    with DecoderPool(1, LIMITS, timeout_s=20.0) as pool:
        worker = pool._idle.get()
        assert worker is not None
        pool._discard(worker)  # as if its replacement had failed to start
        assert pool.alive_workers == 0
        clip = pool.decode_blocking(synth.encode_clip(), REQUEST)
        assert clip.frames.shape == (8, 112, 112, 3) and pool.alive_workers == 1
