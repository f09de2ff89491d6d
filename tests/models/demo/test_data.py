"""Training batches: paired with exact reversals, seeded per step, curriculum and degradation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo import generator
from models.demo.data import (
    Curriculum,
    Mix,
    aux_targets,
    degrade,
    dihedral,
    draw_training_clip,
    frame_motion,
    paired_batch,
    to_tensor,
)
from models.demo.h264 import Pool, PoolSpec, load_pool
from models.demo.motion import KIND, LABELS, PARTNER, RenderedClip, render_clip


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Pool:
    return load_pool(PoolSpec(sizes=(32,), shard=4), 8, 32, tmp_path_factory.mktemp("pool"))


def test_paired_batch_reversals_and_partner_labels(pool: Pool) -> None:
    batch = paired_batch(0, 7, 12, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=0.3), pool=pool)
    clips, labels, cover, motion = batch.clips, batch.labels, batch.cover, batch.motion
    assert clips.shape == (12, 8, 32, 32, 3) and labels.shape == (12,) and cover.shape == (12, 8, 4, 4)
    assert motion.shape == (12, 8, 4)
    for i in range(6):
        assert np.array_equal(clips[6 + i], clips[i][::-1])
        assert np.array_equal(cover[6 + i], cover[i][::-1])
        assert np.array_equal(motion[6 + i], -motion[i][::-1])  # the reversal moves the other way
        assert labels[6 + i] == PARTNER[labels[i]]
    assert cover.min() >= 0.0 and cover.max() <= 1.0 and cover.sum() > 0
    again = paired_batch(0, 7, 12, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=0.3), pool=pool)
    assert np.array_equal(clips, again.clips) and np.array_equal(labels, again.labels)
    other = paired_batch(0, 8, 12, num_frames=8, size=32, max_difficulty=1.0)
    assert not np.array_equal(clips, other.clips)


@pytest.mark.parametrize(
    ("label", "channel", "sign"),
    [
        ("moving_right", 0, 1.0),
        ("moving_left", 0, -1.0),
        ("moving_down", 1, 1.0),
        ("moving_up", 1, -1.0),
        ("rotating_clockwise", 2, 1.0),
        ("rotating_counterclockwise", 2, -1.0),
        ("growing", 3, 1.0),
        ("shrinking", 3, -1.0),
    ],
)
def test_frame_motion_points_the_way_the_label_says(label: str, channel: int, sign: float) -> None:
    clip = render_clip(label, 3, num_frames=8, height=32, width=32, difficulty=0.3)
    m = frame_motion(clip, 32.0)
    assert m.shape == (8, 4)
    assert (sign * m[:, channel] > 0.1).all()
    others = [c for c in range(3) if c != channel]  # position/angle rates of the other kinds stay small
    assert np.abs(m[:, others]).max() < 0.3


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


def test_aux_targets_motion_is_weighted_by_coverage() -> None:
    cover = torch.zeros(1, 4, 2, 2)
    cover[0, :, 0, 0] = 1.0
    cover[0, :, 1, 1] = 0.5
    motion = torch.tensor([1.0, -1.0, 0.5, 0.0]).expand(1, 4, 4)
    t = aux_targets(cover, tubelet=1, motion=motion)
    assert t.shape == (1, 4, 4, 6)
    assert torch.allclose(t[0, :, 0, 2:], motion[0])  # fully covered patch: the object's motion
    assert torch.allclose(t[0, :, 3, 2:], 0.5 * motion[0])
    assert torch.all(t[0, :, 1:3, 2:] == 0)  # patches without the object: no motion


def test_training_mix_draws_pool_items_at_their_share(pool: Pool) -> None:
    g = np.random.default_rng(0)
    clips = [
        draw_training_clip(
            g, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=0.3, issue9=0.2), pool=pool
        )
        for _ in range(80)
    ]
    from_pool = sum(c.shape == "h264" for c in clips)
    assert 12 <= from_pool <= 36
    assert all(c.frames.shape == (8, 32, 32, 3) and 0 <= c.label < 11 for c in clips)
    without = draw_training_clip(g, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=1.0), pool=None)
    assert without.shape != "h264"  # no pool: rendered instead


def _semantics_hold(clip: RenderedClip) -> bool:
    """The clip's ground truth does what its label says (moves along its axis, turns its way)."""
    kind, backward = KIND[clip.label]
    sign = -1.0 if backward else 1.0
    delta = clip.centres[-1] - clip.centres[0]
    if kind in ("move_x", "move_y"):
        axis = 0 if kind == "move_x" else 1
        return bool(sign * delta[axis] > 2 * abs(delta[1 - axis]))
    if kind == "rotate":
        return bool(sign * (clip.angles[-1] - clip.angles[0]) > 0)
    return True


def test_mirrored_and_transposed_clips_carry_the_label_they_show() -> None:
    for label in range(1, 7):
        clip = generator.render_clip(label, label, size=32, difficulty=0.2)
        seen = set()
        for k in range(8):
            variant = dihedral(clip, k)
            assert _semantics_hold(variant), (LABELS[label], k, LABELS[variant.label])
            ys, xs = np.mgrid[0:32, 0:32]
            m = variant.masks[0]
            if m.sum() > 4:  # the masks moved with the frames
                centroid = np.array([(m * xs).sum(), (m * ys).sum()]) / m.sum()
                assert np.abs(centroid - variant.centres[0]).max() < 4.0
            seen.add(variant.label)
        assert len(seen) == (4 if label <= 4 else 2)  # moves visit all four directions, turns both ways
    assert np.array_equal(dihedral(clip, 0).frames, clip.frames)


def test_variants_share_one_drawn_clip() -> None:
    batch = paired_batch(3, 1, 16, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=0.0, variants=2))
    for i in range(0, 8, 2):
        first = RenderedClip(
            frames=batch.clips[i],
            masks=np.zeros((8, 32, 32), np.float32),
            label=int(batch.labels[i]),
            centres=np.zeros((8, 2), np.float32),
            angles=np.zeros(8, np.float32),
            shape="x",
        )
        matches = [k for k in range(1, 8) if np.array_equal(dihedral(first, k).frames, batch.clips[i + 1])]
        assert matches and dihedral(first, matches[0]).label == batch.labels[i + 1]
    single = paired_batch(3, 1, 16, num_frames=8, size=32, max_difficulty=1.0, mix=Mix(h264=0.0))
    assert not any(
        np.array_equal(dihedral_frames, single.clips[1])
        for dihedral_frames in (np.ascontiguousarray(single.clips[0][:, :, ::-1]), single.clips[0])
    )


def test_issue9_share_follows_the_curriculum() -> None:
    mix = Mix(issue9=0.1, issue9_easy=1.0)
    assert mix.issue9_share(0.0) == 1.0 and mix.issue9_share(1.0) == pytest.approx(0.1)
    assert mix.issue9_share(0.5) == pytest.approx(0.55)
    g = np.random.default_rng(0)
    easy = [
        draw_training_clip(g, num_frames=8, size=32, max_difficulty=0.0, mix=mix, pool=None)
        for _ in range(30)
    ]
    assert all(
        c.shape in ("disc", "square", "triangle", "ell", "tee", "half_disc", "arrow", "bar") for c in easy
    )
