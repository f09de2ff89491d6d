"""Training batches: paired with exact reversals, seeded per step, curriculum and degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.data import Curriculum, aux_targets, degrade, paired_batch, to_tensor
from models.demo.motion import PARTNER


def test_paired_batch_reversals_and_partner_labels() -> None:
    clips, labels, cover = paired_batch(0, 7, 12, num_frames=8, size=32, max_difficulty=1.0)
    assert clips.shape == (12, 8, 32, 32, 3) and labels.shape == (12,) and cover.shape == (12, 8, 4, 4)
    for i in range(6):
        assert np.array_equal(clips[6 + i], clips[i][::-1])
        assert np.array_equal(cover[6 + i], cover[i][::-1])
        assert labels[6 + i] == PARTNER[labels[i]]
    assert cover.min() >= 0.0 and cover.max() <= 1.0 and cover.sum() > 0
    again, labels_again, _ = paired_batch(0, 7, 12, num_frames=8, size=32, max_difficulty=1.0)
    assert np.array_equal(clips, again) and np.array_equal(labels, labels_again)
    other, _, _ = paired_batch(0, 8, 12, num_frames=8, size=32, max_difficulty=1.0)
    assert not np.array_equal(clips, other)


def test_curriculum_ramps_to_full_difficulty() -> None:
    c = Curriculum(start=0.2, ramp=0.5)
    values = [c.max_difficulty(p) for p in (0.0, 0.25, 0.5, 0.9)]
    assert values == pytest.approx([0.2, 0.6, 1.0, 1.0])


def test_to_tensor_layout_and_normalisation() -> None:
    clips = np.zeros((2, 8, 4, 6, 3), np.uint8)
    clips[..., 0] = 255
    x = to_tensor(clips, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (2, 8, 3, 4, 6)
    assert torch.allclose(x[:, :, 0], torch.ones(1)) and torch.allclose(x[:, :, 1], -torch.ones(1))


def test_degrade_blurs_some_clips_and_keeps_flat_regions() -> None:
    x = torch.zeros(8, 2, 3, 16, 16)
    x[..., 8:] = 1.0
    y = degrade(x, torch.Generator().manual_seed(0), p_blur=1.0)
    assert y.shape == x.shape
    assert torch.allclose(y[..., :6], x[..., :6]) and torch.allclose(y[..., 10:], x[..., 10:])
    assert (y[..., 7] > 0).all() and (y[..., 8] < 1).all()  # the edge is softened
    assert torch.equal(degrade(x, torch.Generator().manual_seed(0), p_blur=0.0), x)


def test_aux_targets_coverage_and_change() -> None:
    cover = torch.zeros(1, 4, 2, 2)
    cover[0, :, 0, 0] = torch.tensor([0.0, 0.5, 1.0, 1.0])  # the object arrives in patch (0, 0)
    t = aux_targets(cover, tubelet=1)
    assert t.shape == (1, 4, 4, 2)
    assert torch.allclose(t[0, :, 0, 0], cover[0, :, 0, 0])
    assert (t[0, :3, 0, 1] > 0).all() and t[0, 3, 0, 1] == 0  # arriving, then settled
    assert torch.all(t[0, :, 1:, :] == 0)
    paired = aux_targets(cover, tubelet=2)  # tubelets average pairs of frames
    assert paired.shape == (1, 2, 4, 2) and paired[0, 1, 0, 0] == 1.0
