"""Answers checked, not only counted: every server's labels for a clip against vtserve's for the same clip.

Each server is asked once per clip, one request at a time, after its warm-up (`answers_of`); vtserve's
answers are the reference. `agreement` compares another server's with them (the same top-1, the same
top-k labels in the same order, the largest score difference on the labels both give), and `LabelCheck`
is what the load generator applies to every 200 during the timed run (the reference's top-1 label).
All three servers answer `{"labels": [{"label", "score"}, ...]}` best first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.clips import Clip

#: A clip's answer: (label, score) pairs, best first; None when the server did not answer 200 with labels.
Labels = tuple[tuple[str, float], ...]


def labels_of(body: bytes) -> Labels | None:
    """The (label, score) pairs of a JSON answer, or None when it has none."""
    try:
        entries = json.loads(body)["labels"]
        return tuple((str(e["label"]), float(e["score"])) for e in entries)
    except (ValueError, KeyError, TypeError):
        return None


async def answers_of(
    url: str, clips: Sequence[Clip], *, timeout_s: float = 120.0
) -> dict[str, Labels | None]:
    """Each clip's answer from `url`, one request at a time (multipart field `file`, as in the runs)."""
    answers: dict[str, Labels | None] = {}
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for clip in clips:
            try:
                response = await client.post(url, files={"file": (clip.name, clip.data, clip.content_type)})
            except httpx.HTTPError:
                answers[clip.name] = None
                continue
            answers[clip.name] = labels_of(response.content) if response.status_code == 200 else None
    return answers


def agreement(reference: Mapping[str, Labels | None], got: Mapping[str, Labels | None]) -> dict[str, Any]:
    """How `got` compares with the reference, clip by clip (clips the reference did not answer skipped)."""
    clips = [name for name, answer in reference.items() if answer]
    same_top1, same_labels, differ = 0, 0, []
    delta = 0.0
    for name in clips:
        ref, mine = reference[name], got.get(name)
        assert ref is not None
        if not mine:
            differ.append(name)
            continue
        same_top1 += mine[0][0] == ref[0][0]
        same = [label for label, _ in mine] == [label for label, _ in ref]
        same_labels += same
        if not same:
            differ.append(name)
        scores = dict(mine)
        delta = max([delta, *(abs(scores[label] - score) for label, score in ref if label in scores)])
    return {
        "clips": len(clips),
        "same_top1": same_top1,
        "same_labels": same_labels,
        "max_score_delta": delta,
        "differ": differ,
    }


@dataclass(frozen=True)
class LabelCheck:
    """Whether an answer's top-1 label is the reference's for that clip (clips without one: not checked)."""

    top1: Mapping[str, str]

    @classmethod
    def of(cls, reference: Mapping[str, Labels | None]) -> LabelCheck:
        return cls({name: answer[0][0] for name, answer in reference.items() if answer})

    def __call__(self, clip: str, body: bytes) -> bool:
        expected = self.top1.get(clip)
        if expected is None:
            return True
        answer = labels_of(body)
        return bool(answer) and answer is not None and answer[0][0] == expected
