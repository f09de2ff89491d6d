"""The decode plan (where to jump, how much the decoder consumes), on arbitrary keyframe layouts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.decoding.decoder import plan_decode
from service.decoding.types import PacketScan


def _scan(keyframes: list[bool], reorder: bool) -> PacketScan:
    n = len(keyframes)
    keyframes = [True, *keyframes[1:]]
    pts = list(range(0, 2 * n, 2))
    if reorder:  # B-frame-like decode order: swap non-key neighbours
        for i in range(1, n - 1, 3):
            if not keyframes[i] and not keyframes[i + 1]:
                pts[i], pts[i + 1] = pts[i + 1], pts[i]
    return PacketScan(pts=tuple(pts), keyframe=tuple(keyframes), frame_pts=tuple(sorted(pts)), time_base=0.5)


def test_gop_example() -> None:
    # 30 frames, keyframes every 10: wanting frames 2 and 25 decodes 0..2, then jumps to 20 and decodes 20..25
    scan = _scan([i % 10 == 0 for i in range(30)], reorder=False)
    jumps, consumed = plan_decode(scan, [2, 25])
    assert [j.start for j in jumps] == [None, 20]
    assert consumed == 3 + 6


@settings(max_examples=100, deadline=None)
@given(
    keyframes=st.lists(st.booleans(), min_size=1, max_size=300),
    reorder=st.booleans(),
    data=st.data(),
)
def test_plan_properties(keyframes: list[bool], reorder: bool, data: st.DataObject) -> None:
    scan = _scan(keyframes, reorder)
    targets = sorted(set(data.draw(st.lists(st.integers(0, scan.count - 1), min_size=1, max_size=16))))
    jumps, consumed = plan_decode(scan, targets)
    assert len(jumps) == len(targets)
    assert 1 <= consumed <= scan.count  # never more than decoding everything once
    starts = [j.start for j in jumps if j.start is not None]
    assert starts == sorted(set(starts))  # only forward, never twice to the same place
    for jump in jumps:
        if jump.start is not None:
            assert scan.keyframe[jump.start]  # jumps land on keyframes ...
            assert scan.pts[jump.start] <= scan.frame_pts[jump.target]  # ... at or before the wanted frame
    # with keyframes everywhere the plan decodes exactly the wanted frames
    all_key = _scan([True] * scan.count, reorder=False)
    assert plan_decode(all_key, targets)[1] == len(targets)
