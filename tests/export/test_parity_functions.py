"""The comparison arithmetic behind every parity report, on hand-made outputs (no export needed)."""

from __future__ import annotations

import numpy as np
import pytest

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL
from export.parity import compare_outputs, describe_failure, run_parity, top1_agrees


def test_top1_agrees_on_same_argmax_and_near_ties_only() -> None:
    ref = np.array([[0.0, 1.0, 0.5], [2.0, 1.99995, 0.0]])
    assert top1_agrees(ref, ref + 1e-6, 1e-4)
    swapped = np.array([[0.0, 1.0, 0.5], [1.9999, 2.0, 0.0]])  # row 1 flips within the tolerance
    assert top1_agrees(ref, swapped, 1e-4)
    wrong = np.array([[0.0, 0.4, 0.5], [2.0, 1.0, 0.0]])  # row 0 flips by 0.5
    assert not top1_agrees(ref, wrong, 1e-4)


def test_compare_outputs_reports_logit_and_attention_differences() -> None:
    logits = np.array([[0.1, 0.7, -0.3]], dtype=np.float32)
    temporal = np.full((1, 2, 2), 0.5, dtype=np.float32)
    spatial = np.full((1, 2, 3, 3), 1 / 9, dtype=np.float32)
    ref = {OUTPUT_LOGITS: logits, OUTPUT_TEMPORAL: temporal, OUTPUT_SPATIAL: spatial}
    cand = {OUTPUT_LOGITS: logits + 3e-5, OUTPUT_TEMPORAL: temporal, OUTPUT_SPATIAL: spatial + 2e-3}
    case, attention = compare_outputs(ref, cand, 1e-4, batch=1)
    assert case.batch == 1
    assert case.max_abs_logit_diff == pytest.approx(3e-5, rel=1e-2)
    assert case.top1_agree
    assert attention == pytest.approx(2e-3, rel=1e-2)


def test_compare_outputs_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="logits shapes differ"):
        compare_outputs({OUTPUT_LOGITS: np.zeros((1, 3))}, {OUTPUT_LOGITS: np.zeros((1, 4))}, 1e-4, 1)


def _fake_model(shift: float) -> object:
    def run(video: np.ndarray) -> dict[str, np.ndarray]:
        feats = video.reshape(video.shape[0], -1).astype(np.float64)
        logits = np.stack([feats.mean(1), feats.std(1), feats.max(1) / 2], axis=1) / 100.0
        return {OUTPUT_LOGITS: logits + shift}

    return run


def test_run_parity_passes_identical_and_fails_shifted_with_numbers() -> None:
    same = run_parity(
        _fake_model(0.0),  # type: ignore[arg-type]
        _fake_model(0.0),  # type: ignore[arg-type]
        num_frames=2,
        image_size=4,
        reference_name="ref",
        candidate_name="cand",
        tolerance=1e-4,
    )
    assert same.passed
    assert [c.batch for c in same.cases] == [1, 3]
    assert same.max_abs_attention_diff is None

    shifted = run_parity(
        _fake_model(0.0),  # type: ignore[arg-type]
        _fake_model(5e-3),  # type: ignore[arg-type]
        num_frames=2,
        image_size=4,
        reference_name="ref",
        candidate_name="cand",
        tolerance=1e-4,
    )
    assert not shifted.passed
    assert all(c.max_abs_logit_diff == pytest.approx(5e-3) for c in shifted.cases)
    line = describe_failure(shifted)
    assert "\n" not in line
    assert "0.005" in line and "tolerance 0.0001" in line
