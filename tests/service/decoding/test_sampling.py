"""Sampling plans: known values, and properties for any clip length >= 1 frame (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.decoding import DecodeRequest, plan_clips, plan_frames, plan_stride, plan_uniform
from service.decoding.sampling import stride_step

frame_counts = st.integers(min_value=1, max_value=20_000)
num_frames = st.integers(min_value=1, max_value=64)


def _sorted_in_range(indices: tuple[int, ...], n: int) -> bool:
    return all(0 <= i < n for i in indices) and all(a <= b for a, b in itertools.pairwise(indices))


def test_uniform_takes_segment_centres() -> None:
    assert plan_uniform(80, 8) == (5, 15, 25, 35, 45, 55, 65, 75)
    assert plan_uniform(10, 8) == (0, 1, 3, 4, 5, 6, 8, 9)
    assert plan_uniform(1, 4) == (0, 0, 0, 0)
    # short clips repeat frames, evenly
    assert plan_uniform(3, 8) == (0, 0, 0, 1, 1, 2, 2, 2)


def test_uniform_clips_cover_consecutive_parts() -> None:
    first, second = plan_uniform(160, 8, 0, 2), plan_uniform(160, 8, 1, 2)
    assert first == (5, 15, 25, 35, 45, 55, 65, 75)
    assert second == tuple(i + 80 for i in first)


def test_stride_is_centred_with_exact_step() -> None:
    # TimeSformer 8x32 on a 325-frame clip: window of 7*32 = 224 frames, centred
    indices = plan_stride(325, 8, 32)
    assert [b - a for a, b in itertools.pairwise(indices)] == [32] * 7
    assert indices[0] == 324 - indices[-1] == 50
    # at half the native rate the step doubles
    assert stride_step(4, 30.0, 15.0) == 8.0
    assert plan_stride(300, 8, 4, fps=30.0, target_fps=15.0)[1] - plan_stride(300, 8, 4, 30.0, 15.0)[0] == 8


def test_stride_window_longer_than_clip_is_centred_and_clamped() -> None:
    assert plan_stride(10, 8, 32) == (0, 0, 0, 0, 9, 9, 9, 9)
    assert plan_stride(1, 8, 32) == (0,) * 8


def test_stride_clips_spread_from_start_to_end() -> None:
    plans = [plan_stride(300, 8, 8, clip_index=k, num_clips=3) for k in range(3)]
    assert plans[0][0] == 0
    assert plans[2][-1] == 299
    assert plans[0][0] < plans[1][0] < plans[2][0]


def test_plan_frames_reports_timestamps_from_the_timeline() -> None:
    times = [10.0 + i / 25 for i in range(100)]  # stream starting at 10 s
    plan = plan_frames(DecodeRequest(num_frames=4), times, fps=25.0)
    assert plan.indices == (12, 37, 62, 87)
    assert plan.timestamps_s == pytest.approx([12 / 25, 37 / 25, 62 / 25, 87 / 25])
    plans = plan_clips(DecodeRequest(num_frames=4, num_clips=2), times, fps=25.0)
    assert [p.indices for p in plans] == [plan_uniform(100, 4, 0, 2), plan_uniform(100, 4, 1, 2)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_uniform(0, 8)
    with pytest.raises(ValueError):
        plan_stride(10, 8, 0)
    with pytest.raises(ValueError):
        plan_uniform(10, 8, clip_index=2, num_clips=2)


@settings(max_examples=150, deadline=None)
@given(n=frame_counts, t=num_frames, clips=st.integers(1, 8), data=st.data())
def test_uniform_properties(n: int, t: int, clips: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, clips - 1))
    indices = plan_uniform(n, t, k, clips)
    assert len(indices) == t
    assert _sorted_in_range(indices, n)
    assert indices == plan_uniform(n, t, k, clips)  # stable
    if n >= t * clips:  # enough frames: all distinct and inside part k
        assert len(set(indices)) == t
        assert all(k * n // clips <= i < (k + 1) * n // clips + 1 for i in indices)
    if k + 1 < clips:  # later parts never start before earlier ones
        assert plan_uniform(n, t, k + 1, clips)[0] >= indices[0]


@settings(max_examples=150, deadline=None)
@given(
    n=frame_counts,
    t=num_frames,
    stride=st.integers(1, 64),
    fps=st.sampled_from([0.0, 10.0, 24.0, 29.97, 30.0, 60.0]),
    target=st.one_of(st.none(), st.sampled_from([7.5, 15.0, 30.0])),
    clips=st.integers(1, 5),
    data=st.data(),
)
def test_stride_properties(
    n: int, t: int, stride: int, fps: float, target: float | None, clips: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, clips - 1))
    indices = plan_stride(n, t, stride, fps, target, k, clips)
    assert len(indices) == t
    assert _sorted_in_range(indices, n)
    assert indices == plan_stride(n, t, stride, fps, target, k, clips)  # stable
    step = stride_step(stride, fps, target)
    if (t - 1) * step <= n - 1 and step >= 1:
        # the window fits: consecutive samples are step apart (up to rounding), nothing clamped
        gaps = [b - a for a, b in itertools.pairwise(indices)]
        assert all(abs(g - step) <= 1 for g in gaps)
        if clips == 1:  # centred: equal room before and after, up to rounding
            assert abs(indices[0] - (n - 1 - indices[-1])) <= 2


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 2000), t=num_frames, policy=st.sampled_from(["uniform", "stride"]))
def test_plan_frames_properties(n: int, t: int, policy: str) -> None:
    request = DecodeRequest(num_frames=t, policy=policy, frame_stride=4 if policy == "stride" else None)  # type: ignore[arg-type]
    times = [0.5 + i * 0.04 for i in range(n)]
    plan = plan_frames(request, times, fps=25.0)
    assert len(plan.indices) == len(plan.timestamps_s) == t
    assert _sorted_in_range(plan.indices, n)
    assert list(plan.timestamps_s) == sorted(plan.timestamps_s)
    assert all(0.0 <= ts <= times[-1] - times[0] + 1e-9 for ts in plan.timestamps_s)
