"""Sampling plans: which frames of a clip the model sees. Pure functions, no PyAV.

Frames are numbered ``0 .. frame_count - 1`` in presentation order, as counted by the packet scan (never
from the container header). Every plan returns exactly ``num_frames`` indices, sorted (non-decreasing),
in range, for any ``frame_count >= 1``; a clip shorter than the plan repeats frames rather than failing.

* ``uniform``: the clip (or clip ``k`` of ``num_clips`` equal segments) is cut into ``num_frames`` equal
  segments and the frame at each segment's centre is taken. Integer arithmetic, so results are exact.
* ``stride``: ``num_frames`` frames ``frame_stride`` apart at ``target_fps`` (a step of
  ``frame_stride * fps / target_fps`` native frames), the window centred in the clip; with
  ``num_clips > 1`` the windows are spread evenly from the start to the end of the clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from service.decoding.types import DecodeRequest, SamplingPlan


def _check(frame_count: int, num_frames: int, clip_index: int, num_clips: int) -> None:
    if frame_count < 1:
        raise ValueError(f"frame_count must be >= 1, got {frame_count}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index must be in [0, {num_clips}), got {clip_index}")


def plan_uniform(
    frame_count: int, num_frames: int, clip_index: int = 0, num_clips: int = 1
) -> tuple[int, ...]:
    """Segment centres over clip ``clip_index`` of ``num_clips`` equal parts of the video.

    Index ``i`` is ``floor(n * (2*k*T + 2*i + 1) / (2*K*T))``: the centre of segment ``i`` of ``T`` within
    part ``k`` of ``K``, computed exactly in integers.
    """
    _check(frame_count, num_frames, clip_index, num_clips)
    n, t, k, kk = frame_count, num_frames, clip_index, num_clips
    denominator = 2 * kk * t
    return tuple(n * (2 * k * t + 2 * i + 1) // denominator for i in range(t))


def stride_step(frame_stride: int, fps: float, target_fps: float | None) -> float:
    """The distance between sampled frames in native frames: ``frame_stride`` at ``target_fps``."""
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    if target_fps is None or not math.isfinite(fps) or fps <= 0:
        return float(frame_stride)
    return frame_stride * fps / target_fps


def plan_stride(
    frame_count: int,
    num_frames: int,
    frame_stride: int,
    fps: float = 0.0,
    target_fps: float | None = None,
    clip_index: int = 0,
    num_clips: int = 1,
) -> tuple[int, ...]:
    """``num_frames`` frames a fixed step apart, the window centred (one clip) or spread (several).

    A window longer than the clip is centred on it and clamped at both ends (edge frames repeat).
    """
    _check(frame_count, num_frames, clip_index, num_clips)
    step = stride_step(frame_stride, fps, target_fps)
    last = frame_count - 1
    span = (num_frames - 1) * step
    room = last - span
    start = room / 2.0 if room <= 0 or num_clips == 1 else room * clip_index / (num_clips - 1)
    return tuple(min(max(math.floor(start + i * step + 0.5), 0), last) for i in range(num_frames))


def plan_indices(
    request: DecodeRequest, frame_count: int, fps: float, clip_index: int = 0
) -> tuple[int, ...]:
    """Clip ``clip_index`` of ``request``'s plan on a video of ``frame_count`` frames at ``fps``."""
    if request.policy == "uniform":
        return plan_uniform(frame_count, request.num_frames, clip_index, request.num_clips)
    assert request.frame_stride is not None  # enforced by DecodeRequest
    return plan_stride(
        frame_count,
        request.num_frames,
        request.frame_stride,
        fps,
        request.target_fps,
        clip_index,
        request.num_clips,
    )


def plan_frames(
    request: DecodeRequest,
    frame_times_s: Sequence[float],
    fps: float,
    clip_index: int = 0,
) -> SamplingPlan:
    """The plan for clip ``clip_index`` over a timeline of frame times (seconds, sorted, one per frame).

    Timestamps in the plan are relative to the first frame.
    """
    indices = plan_indices(request, len(frame_times_s), fps, clip_index)
    origin = frame_times_s[0]
    return SamplingPlan(indices=indices, timestamps_s=tuple(frame_times_s[i] - origin for i in indices))


def plan_clips(
    request: DecodeRequest, frame_times_s: Sequence[float], fps: float
) -> tuple[SamplingPlan, ...]:
    """The plans of all ``request.num_clips`` clips (for multi-view testing or a timeline)."""
    return tuple(plan_frames(request, frame_times_s, fps, k) for k in range(request.num_clips))
