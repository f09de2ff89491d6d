from __future__ import annotations

import numpy as np
import pytest

from service.postprocess import (
    frame_importance,
    normalise_rows,
    softmax,
    token_frames,
    token_timestamps,
    top_k,
)


def test_softmax_is_stable_and_sums_to_one() -> None:
    p = softmax(np.array([1000.0, 1001.0, 999.0]))
    assert np.isclose(p.sum(), 1.0) and p.argmax() == 1


def test_top_k_sorted_and_clamped() -> None:
    scores = np.array([0.1, 0.6, 0.3])
    assert top_k(scores, ["a", "b", "c"], 2) == [("b", 0.6), ("c", 0.3)]
    assert len(top_k(scores, ["a", "b", "c"], 99)) == 3
    with pytest.raises(ValueError):
        top_k(scores, ["a"], 1)


def test_frame_importance_sums_to_one_and_follows_attention() -> None:
    t = np.array([[0.1, 0.8, 0.1], [0.0, 0.9, 0.1], [0.2, 0.6, 0.2]])
    imp = frame_importance(t)
    assert np.isclose(imp.sum(), 1.0) and imp.argmax() == 1
    drifted = normalise_rows(t * 1.01)
    assert np.allclose(drifted.sum(axis=1), 1.0)
    assert np.allclose(normalise_rows(np.zeros((2, 2))), 0.5)


def test_tokens_for_tubelets() -> None:
    assert token_frames(8, 1) == list(range(8))
    assert token_frames(8, 2) == [1, 3, 5, 7]
    assert token_timestamps([0.0, 1.0, 2.0, 3.0], 2) == [0.5, 2.5]
