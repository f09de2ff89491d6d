"""Segments: consecutive windows with the same top label, merged. A pure function.

Windows overlap (or leave gaps), so each window is given the stretch of time closest to its centre: the
boundary between two consecutive windows is the midpoint of their centres; the first window's stretch
starts at 0 and the last one's ends at the video's end. A segment is a run of windows with the same top
label, from its first window's stretch start to its last window's stretch end; its score is the mean of
those windows' top scores. Segments therefore tile `[0, duration]` without gaps or overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from service.timelines.schemas import Segment, WindowLine


def _top(window: WindowLine) -> tuple[str, float]:
    best = window.labels[0]
    return best.label, best.score


def merge_segments(windows: Sequence[WindowLine], duration_s: float) -> list[Segment]:
    """The segments of ``windows`` (in order) over a video of ``duration_s`` seconds."""
    if not windows:
        return []
    centres = [(w.start_s + w.end_s) / 2.0 for w in windows]
    edges = [0.0, *((a + b) / 2.0 for a, b in pairwise(centres)), duration_s]
    segments: list[Segment] = []
    run_scores: list[float] = []
    run_start = 0
    for k, window in enumerate(windows):
        label, score = _top(window)
        run_scores.append(score)
        last = k == len(windows) - 1
        if last or _top(windows[k + 1])[0] != label:
            segments.append(
                Segment(
                    label=label,
                    start_s=edges[run_start],
                    end_s=edges[k + 1],
                    score=min(max(sum(run_scores) / len(run_scores), 0.0), 1.0),
                )
            )
            run_start, run_scores = k + 1, []
    return segments
