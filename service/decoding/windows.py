"""Timelines: a video cut into windows, every window planned from one packet scan. Pure, no PyAV.

A timeline classifies the windows ``[k·stride_s, k·stride_s + window_s)`` of a video, plus one last window
ending at the end of the video when the strides do not land there, so the windows cover the whole
duration, in order, with non-decreasing start times. Each window is sampled exactly as a clip of that
length would be (``sampling.plan_indices`` over the frames inside the window), so a model sees a window as
it sees a clip. Frame times come from the packet scan, never from the header.

Windows overlap when ``stride_s < window_s``; a frame sampled by several windows is decoded and converted
once (``decoding.forward``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from service.decoding.sampling import plan_indices
from service.decoding.types import DecodeRequest
from service.errors import TooManyWindows

_EPS = 1e-6


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowRequest:
    """How to cut a video into windows, and how each window is sampled (``clip``: one clip, one crop).

    ``window_s`` None means the model's own temporal span, known only for stride sampling (see
    :func:`model_span_s`); ``stride_s`` None means half a window. ``max_windows``, ``max_duration_s`` and
    ``max_bytes`` are the timeline's limits (a timeline may be longer than a single clip may be).
    """

    clip: DecodeRequest
    window_s: float | None = None
    stride_s: float | None = None
    max_windows: int = 1000
    max_duration_s: float = 1800.0
    max_bytes: int = 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.clip.num_clips != 1 or self.clip.crops != 1:
            raise ValueError("a window is one clip with one crop")
        if self.window_s is None and self.clip.policy != "stride":
            raise ValueError("window_s is needed for a uniformly sampled model (it has no span of its own)")
        for name in ("window_s", "stride_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0.0 < value <= 86_400.0):
                raise ValueError(f"{name} must be in (0, 86400], got {value}")
        if self.max_windows < 1 or self.max_duration_s <= 0 or self.max_bytes < 1:
            raise ValueError("max_windows, max_duration_s and max_bytes must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowSpec:
    """One window: its span (seconds from the first frame) and the frames sampled from it."""

    index: int
    start_s: float
    end_s: float
    indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelinePlan:
    """Every window of a timeline, and the facts of the stream they come from (from the scan)."""

    window_s: float
    stride_s: float
    windows: tuple[WindowSpec, ...]
    duration_s: float
    fps: float
    frame_count: int
    stream_index: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodedWindow:
    """A window's clip, ready for the model: ``frames`` is uint8 ``[T, S, S, 3]``.

    ``indices``/``timestamps_s`` are the frames actually used (a damaged frame is replaced by the next
    decodable one). ``width``/``height`` are the video's size as displayed and ``rotation`` the clockwise
    rotation applied; ``frames_decoded`` counts the frames decoded since the previous window.
    """

    index: int
    start_s: float
    end_s: float
    frames: npt.NDArray[np.uint8]
    indices: tuple[int, ...]
    timestamps_s: tuple[float, ...]
    rotation: int
    width: int
    height: int
    frames_decoded: int
    packets_failed: int


def model_span_s(clip: DecodeRequest, fps: float) -> float | None:
    """Seconds a stride-sampled clip spans (``num_frames × frame_stride / fps``, at ``target_fps`` when
    the model has one); None for uniform sampling, whose frames spread over whatever clip they get."""
    if clip.policy != "stride" or clip.frame_stride is None:
        return None
    rate = clip.target_fps or fps
    return clip.num_frames * clip.frame_stride / rate if rate > 0 else None


def window_starts(duration_s: float, window_s: float, stride_s: float) -> list[float]:
    """Start times: every stride while a window fits, then one window ending at the end if needed."""
    if duration_s <= window_s + _EPS:
        return [0.0]
    count = math.floor((duration_s - window_s) / stride_s + _EPS) + 1
    starts = [k * stride_s for k in range(count)]
    if starts[-1] + window_s < duration_s - _EPS:
        starts.append(duration_s - window_s)
    return starts


def window_count(duration_s: float, window_s: float, stride_s: float) -> int:
    """How many windows :func:`window_starts` gives, without building them."""
    if duration_s <= window_s + _EPS:
        return 1
    count = math.floor((duration_s - window_s) / stride_s + _EPS) + 1
    return count + int((count - 1) * stride_s + window_s < duration_s - _EPS)


def _frames_in(times: Sequence[float], start_s: float, end_s: float) -> tuple[int, int]:
    """The frames ``[a, b)`` whose time lies in ``[start_s, end_s)``; at least one frame."""
    last = len(times)
    a = min(bisect.bisect_left(times, start_s - _EPS), last - 1)
    b = bisect.bisect_left(times, end_s - _EPS)
    return a, max(b, a + 1)


def plan_windows(
    frame_times_s: Sequence[float],
    fps: float,
    duration_s: float,
    request: WindowRequest,
    *,
    stream_index: int = 0,
) -> TimelinePlan:
    """Every window over a timeline of frame times (seconds, sorted, one per frame).

    Raises ``TooManyWindows`` past ``request.max_windows`` and ``ValueError`` when the window length is
    unknown (a uniformly sampled model and no ``window_s``).
    """
    window_s = request.window_s or model_span_s(request.clip, fps)
    if window_s is None:
        raise ValueError("the window length is unknown: give window_s")
    stride_s = request.stride_s or window_s / 2.0
    count = window_count(duration_s, window_s, stride_s)
    if count > request.max_windows:
        raise TooManyWindows(
            f"{duration_s:.1f} s in windows of {window_s:g} s every {stride_s:g} s makes {count} windows "
            f"(limit {request.max_windows}); use a longer stride_s"
        )
    origin = frame_times_s[0]
    times = [t - origin for t in frame_times_s]
    windows = []
    for index, start in enumerate(window_starts(duration_s, window_s, stride_s)):
        end = min(start + window_s, duration_s)
        a, b = _frames_in(times, start, end)
        picks = tuple(a + i for i in plan_indices(request.clip, b - a, fps))
        windows.append(
            WindowSpec(
                index=index,
                start_s=start,
                end_s=end,
                indices=picks,
                timestamps_s=tuple(times[i] for i in picks),
            )
        )
    return TimelinePlan(
        window_s=window_s,
        stride_s=stride_s,
        windows=tuple(windows),
        duration_s=duration_s,
        fps=fps,
        frame_count=len(times),
        stream_index=stream_index,
    )
