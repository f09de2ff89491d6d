"""Training batches for `motion`: seeded per step, paired with their reversals, with a curriculum.

Batch `k` of a run with seed `s` depends only on `(s, k)`, the curriculum and the H.264 pool (itself a
function of its `PoolSpec`), so a resumed run sees the same data as an uninterrupted one.

Where clips come from (`Mix`): most are rendered on the fly by the v2 generator
(`models.demo.generator`); a share `h264` are items of the H.264 pool (`models.demo.h264`), each shown
in one of its 8 mirror/transpose variants with the label that variant has (`dihedral`), and no
harder than the curriculum's current difficulty; a share
`issue9` are drawn by the issue-9 renderer (`models.demo.motion`), one more style among many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.demo import generator, motion
from models.demo.h264 import Pool
from models.demo.motion import NUM_CLASSES, PARTNER, RenderedClip


@dataclass(frozen=True, kw_only=True)
class Curriculum:
    """Difficulty is drawn from U(0, d_max); d_max ramps linearly from `start` to 1 by `ramp` of the run."""

    start: float = 0.25
    ramp: float = 0.4

    def max_difficulty(self, progress: float) -> float:
        if self.ramp <= 0:
            return 1.0
        return float(min(1.0, self.start + (1.0 - self.start) * progress / self.ramp))


def to_tensor(clips: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float32 [B, T, 3, H, W], `(x / 255 - mean) / std`."""
    x = torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 1, 4, 2, 3).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1)
    return (x - m) / s


@dataclass(frozen=True, kw_only=True)
class TrainBatch:
    """One training batch: clips, labels and the dense ground truth of the auxiliary probe.

    clips uint8 [B, T, S, S, 3]; labels int64 [B]; cover float32 [B, T, S/p, S/p] object coverage per
    patch; motion float32 [B, T, 4] the object's motion per frame (`frame_motion`).
    """

    clips: np.ndarray
    labels: np.ndarray
    cover: np.ndarray
    motion: np.ndarray


def frame_motion(clip: RenderedClip, side: float) -> np.ndarray:
    """float32 [T, 4]: the object's rates of change per frame, in units of one whole clip, each ~[-1, 1].

    (x velocity, y velocity) in centre-square sides × 2, angular velocity in radians / 3 (clockwise
    positive), and the change of log area / 2 (growing positive); central differences over the frames.
    Reversing the frames negates all four, which is what tells a clip from its partner.
    """
    t = len(clip.frames)
    if t < 2:
        return np.zeros((t, 4), np.float32)
    area = np.log(clip.masks.reshape(t, -1).sum(1) + 1.0)
    angles = np.unwrap(clip.angles.astype(np.float64))
    series = np.stack([clip.centres[:, 0] / side, clip.centres[:, 1] / side, angles, area], axis=1)
    rates = np.gradient(series, axis=0) * t  # per whole clip
    return (rates * np.array([2.0, 2.0, 1.0 / 3.0, 0.5])).astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class Mix:
    """Shares of a batch's clips from the H.264 pool and from the issue-9 renderer (the rest are v2),
    and how many mirror/transpose variants of each drawn clip the batch holds (2 halves the rendering
    cost per batch, at some loss of variety within a batch).

    The issue-9 share follows the curriculum: `issue9_easy` while the difficulty is 0, falling linearly
    to `issue9` at full difficulty. Its easy clips (a light object on a dark ground) get a fresh model
    off the ln 11 plateau within a few hundred steps, which v2's easiest clips alone did not do in 1,000
    (motion-vivit, 3 min on one core: v2 validation 0.09 flat with 0.5 here, 0.10 -> 0.35 with 1.0).
    """

    h264: float = 0.25
    issue9: float = 0.1
    issue9_easy: float = 1.0
    variants: int = 1

    def issue9_share(self, max_difficulty: float) -> float:
        d = float(np.clip(max_difficulty, 0.0, 1.0))
        return self.issue9 + (self.issue9_easy - self.issue9) * (1.0 - d)


# label -> label after mirroring left-right, mirroring up-down, or swapping the axes (a transpose)
_HFLIP = (0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10)
_VFLIP = (0, 1, 2, 4, 3, 6, 5, 7, 8, 9, 10)
_TRANSPOSE = (0, 3, 4, 1, 2, 6, 5, 7, 8, 9, 10)


def dihedral(clip: RenderedClip, k: int) -> RenderedClip:
    """Variant `k` (0–7) of a clip: transposed if k & 4, mirrored up-down if k & 2, left-right if k & 1,
    with its label, masks, centres and angles changed to match (a mirror turns clockwise into
    counter-clockwise; k = 0 is the clip itself)."""
    frames, masks, centres, angles, label = clip.frames, clip.masks, clip.centres, clip.angles, clip.label
    if k & 4:
        frames, masks = frames.transpose(0, 2, 1, 3), masks.transpose(0, 2, 1)
        centres, angles, label = centres[:, ::-1], -angles, _TRANSPOSE[label]
    if k & 2:
        frames, masks = frames[:, ::-1], masks[:, ::-1]
        centres = np.stack([centres[:, 0], frames.shape[1] - centres[:, 1]], -1)
        angles, label = -angles, _VFLIP[label]
    if k & 1:
        frames, masks = frames[:, :, ::-1], masks[:, :, ::-1]
        centres = np.stack([frames.shape[2] - centres[:, 0], centres[:, 1]], -1)
        angles, label = -angles, _HFLIP[label]
    return RenderedClip(
        frames=np.ascontiguousarray(frames),
        masks=np.ascontiguousarray(masks),
        label=label,
        centres=np.ascontiguousarray(centres, dtype=np.float32),
        angles=np.asarray(angles, dtype=np.float32),
        shape=clip.shape,
    )


def draw_training_clip(
    g: np.random.Generator, *, num_frames: int, size: int, max_difficulty: float, mix: Mix, pool: Pool | None
) -> RenderedClip:
    """One clip from the mix: an H.264 pool item (a random variant), an issue-9 clip, or a v2 clip."""
    source = float(g.random())
    if pool is not None and source < mix.h264:
        index = pool.pick(g, max_difficulty)  # no harder than the curriculum allows yet
        if index is not None:
            return dihedral(pool.clip(index), int(g.integers(8)))
    label = int(g.integers(0, NUM_CLASSES))
    diff = float(g.uniform(0.0, max_difficulty))
    if source < mix.h264 + mix.issue9_share(max_difficulty):
        return motion.render_clip(label, g, num_frames=num_frames, height=size, width=size, difficulty=diff)
    return generator.render_clip(label, g, num_frames=num_frames, size=size, difficulty=diff)


def paired_batch(
    seed: int,
    step: int,
    batch_size: int,
    *,
    num_frames: int,
    size: int,
    max_difficulty: float,
    patch: int = 8,
    mix: Mix = Mix(),
    pool: Pool | None = None,
) -> TrainBatch:
    """`batch_size // 2` clips from the mix plus their exact reversals, labelled with the partner class.

    Seeing a clip and its reversal with different labels in the same step forces the model to use the
    frame order. Alongside: the object coverage per patch and its motion per frame (reversed, hence
    negated, for the reversals) — the targets of the auxiliary probe.
    """
    g = np.random.default_rng([seed, step, 1])  # tag 1: training batches
    half = batch_size // 2
    labels = np.empty(half, dtype=np.int64)
    clips = np.empty((2 * half, num_frames, size, size, 3), dtype=np.uint8)
    side = size // patch
    cover = np.empty((2 * half, num_frames, side, side), dtype=np.float32)
    motion_ = np.empty((2 * half, num_frames, 4), dtype=np.float32)
    drawn: list[RenderedClip] = []
    while len(drawn) < half:
        clip = draw_training_clip(
            g, num_frames=num_frames, size=size, max_difficulty=max_difficulty, mix=mix, pool=pool
        )
        others = g.choice(np.arange(1, 8), max(0, min(mix.variants, 8) - 1), replace=False)
        drawn += [clip, *(dihedral(clip, int(k)) for k in others)][: half - len(drawn)]
    for i, clip in enumerate(drawn):
        labels[i] = clip.label
        clips[i] = clip.frames
        clips[half + i] = clip.frames[::-1]
        c = clip.masks.reshape(num_frames, side, patch, side, patch).mean((2, 4))
        cover[i] = c
        cover[half + i] = c[::-1]
        m = frame_motion(clip, float(size))
        motion_[i] = m
        motion_[half + i] = -m[::-1]
    partner = np.asarray(PARTNER)[labels]
    return TrainBatch(
        clips=clips, labels=np.concatenate([labels, partner]).astype(np.int64), cover=cover, motion=motion_
    )


def aux_targets(cover: torch.Tensor, tubelet: int, motion: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token targets [B, T', n, 2 (+4)]: object coverage of the patch, its change over time and,
    with `motion` [B, T, 4], the object's motion weighted by the patch's coverage.

    `cover` [B, T, h, w] is averaged over each tubelet; the change is a central difference over T'
    (one-sided at the ends). Telling the tokens where the object is, whether it is arriving or leaving
    and which way it moves is dense, easy supervision that the clip label alone gives only very slowly:
    the direction of motion is what tells a clip from its reversal.
    """
    b, t, h, w = cover.shape
    c = cover.reshape(b, t // tubelet, tubelet, h * w).mean(2)  # [B, T', n]
    padded = torch.cat([c[:, :1], c, c[:, -1:]], dim=1)
    change = (padded[:, 2:] - padded[:, :-2]) * 2.0
    parts = [c[..., None], change[..., None]]
    if motion is not None:
        m = motion.reshape(b, t // tubelet, tubelet, motion.shape[-1]).mean(2)  # [B, T', 4]
        parts.append(c[..., None] * m[:, :, None, :])
    return torch.cat(parts, dim=-1)


def degrade(x: torch.Tensor, generator: torch.Generator, *, p_blur: float = 0.5) -> torch.Tensor:
    """Mild compression-like degradation of a normalised batch [B, T, 3, H, W]: per-clip Gaussian blur.

    Clips decoded from H.264 and downscaled are a little softer than our renders; a random blur of
    sigma 0.3–0.9 px on half the clips teaches the model not to rely on sharp edges.
    """
    b, t, c, h, w = x.shape
    sigma = 0.3 + 0.6 * torch.rand(b, generator=generator)
    use = torch.rand(b, generator=generator) < p_blur
    if not bool(use.any()):
        return x
    r = torch.arange(-1, 2, dtype=torch.float32)
    k1 = torch.exp(-(r[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)  # [B, 3]
    k2 = k1[:, :, None] * k1[:, None, :]  # [B, 3, 3]
    ident = torch.zeros(3, 3)
    ident[1, 1] = 1.0
    k2 = torch.where(use[:, None, None], k2, ident)
    weight = k2.repeat_interleave(t * c, 0)[:, None]  # [B*T*C, 1, 3, 3]
    y = F.conv2d(
        F.pad(x.reshape(1, b * t * c, h, w), (1, 1, 1, 1), mode="replicate"), weight, groups=b * t * c
    )
    return y.reshape(b, t, c, h, w)
