"""Training batches for `motion`: seeded per step, paired with their reversals, with a curriculum.

Batch `k` of a run with seed `s` depends only on `(s, k)` and the curriculum, so a resumed run sees the
same data as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.demo.motion import NUM_CLASSES, PARTNER, RenderedClip, render_clip


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


def paired_batch(
    seed: int,
    step: int,
    batch_size: int,
    *,
    num_frames: int,
    size: int,
    max_difficulty: float,
    patch: int = 8,
) -> TrainBatch:
    """`batch_size // 2` fresh clips plus their exact reversals, labelled with the partner class.

    Seeing a clip and its reversal with different labels in the same step forces the model to use the
    frame order. Alongside: the object coverage per patch and its motion per frame (reversed, hence
    negated, for the reversals) — the targets of the auxiliary probe.
    """
    g = np.random.default_rng([seed, step, 1])  # tag 1: training batches
    half = batch_size // 2
    labels = g.integers(0, NUM_CLASSES, size=half)
    clips = np.empty((2 * half, num_frames, size, size, 3), dtype=np.uint8)
    side = size // patch
    cover = np.empty((2 * half, num_frames, side, side), dtype=np.float32)
    motion = np.empty((2 * half, num_frames, 4), dtype=np.float32)
    for i, lab in enumerate(labels):
        diff = float(g.uniform(0.0, max_difficulty))
        clip = render_clip(int(lab), g, num_frames=num_frames, height=size, width=size, difficulty=diff)
        clips[i] = clip.frames
        clips[half + i] = clip.frames[::-1]
        c = clip.masks.reshape(num_frames, side, patch, side, patch).mean((2, 4))
        cover[i] = c
        cover[half + i] = c[::-1]
        m = frame_motion(clip, float(size))
        motion[i] = m
        motion[half + i] = -m[::-1]
    partner = np.asarray(PARTNER)[labels]
    return TrainBatch(
        clips=clips, labels=np.concatenate([labels, partner]).astype(np.int64), cover=cover, motion=motion
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
