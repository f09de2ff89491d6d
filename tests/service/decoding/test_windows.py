"""Timeline windows: planning from the scan (pure), and the forward pass that decodes them.

The forward pass is checked against the single-clip decoder (a window spanning the whole video is the
same clip, pixel for pixel), on every real clip, and for memory and work: overlapping windows share
frames, each frame is decoded at most once, and a closed stream stops.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from service.decoding import DecodeLimits, DecodeRequest, DecoderPool, decode_clip
from service.decoding.forward import decode_windows
from service.decoding.windows import (
    DecodedWindow,
    TimelinePlan,
    WindowRequest,
    model_span_s,
    plan_windows,
    window_count,
    window_starts,
)
from service.errors import ClipTooLong, DecoderCrashed, TooManyWindows
from tests.service.decoding.synth import encode_clip

LIMITS = DecodeLimits()
CLIP = DecodeRequest(num_frames=8, short_side=40, crop_size=32)


def _times(count: int, fps: float) -> list[float]:
    return [i / fps for i in range(count)]


@pytest.mark.parametrize(
    ("duration", "window", "stride", "expected"),
    [
        (10.0, 4.0, 2.0, [0.0, 2.0, 4.0, 6.0]),
        (11.0, 4.0, 2.0, [0.0, 2.0, 4.0, 6.0, 7.0]),  # one more window ending at the end
        (3.0, 4.0, 2.0, [0.0]),  # shorter than a window: one window over all of it
        (10.0, 2.0, 5.0, [0.0, 5.0, 8.0]),  # stride longer than the window: gaps, the end still covered
    ],
)
def test_window_starts_cover_the_duration(
    duration: float, window: float, stride: float, expected: list[float]
) -> None:
    starts = window_starts(duration, window, stride)
    assert starts == pytest.approx(expected)
    assert window_count(duration, window, stride) == len(starts)
    assert starts == sorted(starts) and min(starts[-1] + window, duration) == pytest.approx(duration)


def test_plan_samples_each_window_like_a_clip_of_its_length() -> None:
    fps = 10.0
    plan = plan_windows(_times(100, fps), fps, 10.0, WindowRequest(clip=CLIP, window_s=4.0, stride_s=2.0))
    assert [w.start_s for w in plan.windows] == [0.0, 2.0, 4.0, 6.0]
    assert plan.windows[0].indices == (2, 7, 12, 17, 22, 27, 32, 37)  # segment centres of frames 0..39
    for window in plan.windows:
        assert all(window.start_s <= t < window.end_s for t in window.timestamps_s)
        assert list(window.indices) == sorted(window.indices)
    # stride = half a window of 8 segments: window k+1 reuses the last 4 frames of window k
    assert plan.windows[1].indices[:4] == plan.windows[0].indices[4:]


def test_stride_sampled_models_default_to_their_own_span() -> None:
    clip = DecodeRequest(num_frames=8, policy="stride", frame_stride=4, short_side=40, crop_size=32)
    assert model_span_s(clip, 16.0) == pytest.approx(2.0)
    assert model_span_s(CLIP, 16.0) is None
    plan = plan_windows(_times(160, 16.0), 16.0, 10.0, WindowRequest(clip=clip))
    assert (plan.window_s, plan.stride_s) == pytest.approx((2.0, 1.0))
    with pytest.raises(ValueError, match="window_s"):
        WindowRequest(clip=CLIP)


def test_too_many_windows_is_refused_before_decoding() -> None:
    request = WindowRequest(clip=CLIP, window_s=1.0, stride_s=0.1, max_windows=50)
    with pytest.raises(TooManyWindows, match="91 windows"):
        plan_windows(_times(100, 10.0), 10.0, 10.0, request)


def _decode_all(source: Path | bytes, request: WindowRequest) -> tuple[TimelinePlan, list[DecodedWindow]]:
    items = list(decode_windows(source, request, LIMITS))
    plan, windows = items[0], items[1:]
    assert isinstance(plan, TimelinePlan)
    assert all(isinstance(w, DecodedWindow) for w in windows)
    return plan, [w for w in windows if isinstance(w, DecodedWindow)]


def test_one_window_over_everything_is_the_single_clip(tmp_path: Path) -> None:
    data = encode_clip(width=64, height=48, frames=90, fps=30, gop=12)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    _plan, windows = _decode_all(path, WindowRequest(clip=CLIP, window_s=100.0))
    clip = decode_clip(data, CLIP, LIMITS)
    assert len(windows) == 1
    assert windows[0].indices == clip.indices and windows[0].timestamps_s == clip.timestamps_s
    assert np.array_equal(windows[0].frames, clip.frames)


def test_overlapping_windows_decode_each_frame_once(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_clip(width=64, height=48, frames=300, fps=30, gop=60))
    plan, windows = _decode_all(path, WindowRequest(clip=CLIP, window_s=2.0, stride_s=0.5))
    assert [w.index for w in windows] == list(range(len(plan.windows))) and len(windows) == 17
    assert [w.start_s for w in windows] == sorted(w.start_s for w in windows)
    assert windows[-1].end_s == pytest.approx(plan.duration_s)
    assert sum(w.frames_decoded for w in windows) <= plan.frame_count  # forward only, never twice
    seen: dict[int, np.ndarray] = {}
    for window in windows:
        for slot, index in enumerate(window.indices):
            if index in seen:  # a frame shared by overlapping windows is the same pixels
                assert np.array_equal(seen[index], window.frames[slot])
            seen[index] = window.frames[slot]


REAL = ["h265_video.mp4", "video_90.mov", "nasa_13013.mp4", "av1_video.mkv", "corrupted.mp4"]


@pytest.mark.parametrize("name", REAL)
def test_real_clips_match_the_single_clip_decoder(name: str, media: Callable[[str], Path]) -> None:
    path = media(name)
    _plan, windows = _decode_all(path, WindowRequest(clip=CLIP, window_s=1000.0))
    clip = decode_clip(path.read_bytes(), CLIP, LIMITS)
    assert (windows[0].rotation, windows[0].width, windows[0].height) == (
        clip.rotation,
        clip.width,
        clip.height,
    )
    assert windows[0].indices == clip.indices
    if name != "corrupted.mp4":  # concealment of the damaged frame may differ; the frames used do not
        assert np.array_equal(windows[0].frames, clip.frames)


def test_the_timeline_duration_limit_applies(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_clip(frames=90, fps=30))
    stream = decode_windows(path, WindowRequest(clip=CLIP, window_s=1.0, max_duration_s=2.0), LIMITS)
    with pytest.raises(ClipTooLong):
        next(stream)


def test_closing_the_stream_early_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_clip(frames=300, fps=30))
    stream = decode_windows(path, WindowRequest(clip=CLIP, window_s=1.0, stride_s=0.5), LIMITS)
    next(stream), next(stream)
    stream.close()
    assert list(stream) == []


# --- through the decoder pool: a worker lent to one timeline ---------------------------------------------


def _long_clip(tmp_path: Path, seconds: int = 20) -> Path:
    path = tmp_path / "long.mp4"
    path.write_bytes(encode_clip(width=160, height=120, frames=30 * seconds, fps=30, gop=30))
    return path


def test_the_pool_streams_windows_and_takes_its_worker_back(tmp_path: Path) -> None:
    path = _long_clip(tmp_path)
    request = WindowRequest(clip=CLIP, window_s=2.0, stride_s=1.0)
    with DecoderPool(2, LIMITS, timeout_s=20.0) as pool:
        before = set(pool.worker_pids)
        stream = pool.open_windows(path, request)
        plan = stream.next()
        assert isinstance(plan, TimelinePlan) and pool.idle_workers == 1
        # the lent worker decodes at a lower priority, so single clips keep their share of the CPU
        assert sorted(os.getpriority(os.PRIO_PROCESS, pid) for pid in pool.worker_pids) == [0, 10]
        windows = []
        while (item := stream.next()) is not None:
            assert isinstance(item, DecodedWindow)
            windows.append(item)
        assert [w.index for w in windows] == list(range(len(plan.windows))) and stream.done
        assert pool.idle_workers == 2 and pool.replaced == 0
        # it retired after the job (it cannot raise its priority again); a fresh one took its place
        assert len(set(pool.worker_pids) - before) == 1
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pool.worker_pids] == [0, 0]
        local = list(decode_windows(path, request, LIMITS))[1:]
        assert all(np.array_equal(a.frames, b.frames) for a, b in zip(windows, local, strict=True))


def test_closing_a_stream_frees_its_worker_at_once(tmp_path: Path) -> None:
    path = _long_clip(tmp_path, seconds=60)
    with DecoderPool(1, LIMITS, timeout_s=20.0) as pool:
        stream = pool.open_windows(path, WindowRequest(clip=CLIP, window_s=1.0, stride_s=0.25))
        for _ in range(4):
            stream.next()
        started = time.monotonic()
        stream.close()
        assert time.monotonic() - started < 2.0 and pool.idle_workers == 1 and pool.replaced == 0
        assert stream.next() is None
        assert pool.decode_blocking(path, CLIP).frames.shape == (8, 32, 32, 3)  # the same worker serves on


def test_a_worker_dying_mid_timeline_is_replaced(tmp_path: Path) -> None:
    path = _long_clip(tmp_path)
    with DecoderPool(1, LIMITS, timeout_s=20.0) as pool:
        stream = pool.open_windows(path, WindowRequest(clip=CLIP, window_s=1.0, stride_s=0.5))
        stream.next()
        os.kill(pool.worker_pids[0], signal.SIGKILL)
        with pytest.raises(DecoderCrashed):
            while stream.next() is not None:
                pass
        assert pool.replaced == 1 and pool.alive_workers == 1
        assert pool.decode_blocking(path, CLIP).frames.shape == (8, 32, 32, 3)
