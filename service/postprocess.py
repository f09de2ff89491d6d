"""Turning a clip's raw outputs into an answer: softmax scores, top-k labels, frame importance.

Pure numpy functions, unit-tested without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def softmax(logits: NDArray[np.floating]) -> NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def top_k(scores: NDArray[np.floating], labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The k best (label, score) pairs, best first; ties broken by label order."""
    if len(labels) != scores.shape[-1]:
        raise ValueError(f"{len(labels)} labels for {scores.shape[-1]} scores")
    k = max(1, min(k, len(labels)))
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return [(labels[int(i)], float(scores[int(i)])) for i in order]


def normalise_rows(temporal: NDArray[np.floating]) -> NDArray[np.float64]:
    """A T'×T' attention matrix with every row summing to 1 (guards against fp16 drift)."""
    t = np.clip(np.asarray(temporal, dtype=np.float64), 0.0, None)
    sums = t.sum(axis=-1, keepdims=True)
    uniform = np.full_like(t, 1.0 / t.shape[-1])
    out: NDArray[np.float64] = np.where(sums > 0, t / np.where(sums > 0, sums, 1.0), uniform)
    return out


def frame_importance(temporal: NDArray[np.floating]) -> NDArray[np.float64]:
    """How much attention each temporal token receives: the column means of the row-normalised matrix.

    With rows summing to 1, the result sums to 1.
    """
    rows = normalise_rows(temporal)
    importance = rows.mean(axis=0)
    out: NDArray[np.float64] = importance / importance.sum()
    return out


def token_frames(num_frames: int, tubelet: int) -> list[int]:
    """For each temporal token, the sampled frame that represents it (the middle of its tubelet)."""
    return [k * tubelet + tubelet // 2 for k in range(num_frames // tubelet)]


def token_timestamps(timestamps_s: Sequence[float], tubelet: int) -> list[float]:
    """Each temporal token's time: the mean timestamp of the frames in its tubelet."""
    count = len(timestamps_s) // tubelet
    return [float(np.mean(timestamps_s[k * tubelet : (k + 1) * tubelet])) for k in range(count)]
