"""What issue 9 measures on a `motion` model, as functions of a model and a set of clips.

- `classification`: top-1 and per-class accuracy; reversal → partner (a reversed clip of a paired class
  predicted as the partner class); pair accuracy (the right pair) and within-pair accuracy (the right
  member of it, chance 0.5: the evidence that a model uses frame order); the rotation pair on its own;
  the same on the first `first` clips (what the shipped-model tests re-measure); with the clips'
  difficulties, top-1 and the rotation pair's top-1 per fifth of the difficulty range;
- `attention_concentration`: the share of spatial attention inside the object against the share the
  object covers (what uniform attention would give);
- `latency`: CPU time per clip at batch 1 and 8.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from models.contract import InputContract
from models.demo.data import to_tensor
from models.demo.motion import LABELS, NUM_CLASSES, PARTNER, RenderedClip

ROTATION = (LABELS.index("rotating_clockwise"), LABELS.index("rotating_counterclockwise"))


@torch.no_grad()
def logits(model: nn.Module, clips: np.ndarray, contract: InputContract, batch: int = 64) -> np.ndarray:
    """Logits [N, 11] of uint8 clips [N, T, S, S, 3] (normalised as the contract says)."""
    model.eval()
    out = []
    for i in range(0, len(clips), batch):
        x = to_tensor(clips[i : i + batch], contract.mean, contract.std)
        out.append(model(x).logits.numpy())
    return np.concatenate(out)


def _share(hits: np.ndarray) -> float:
    return round(float(hits.mean()), 4) if len(hits) else float("nan")


def by_difficulty(pred: np.ndarray, labels: np.ndarray, difficulty: np.ndarray) -> dict[str, Any]:
    """Top-1, and the rotating classes' top-1, per fifth of the difficulty range [0, 1]."""
    band = np.minimum((np.asarray(difficulty) * 5).astype(int), 4)
    rotating = np.isin(labels, ROTATION)
    out: dict[str, Any] = {}
    for k in range(5):
        chosen = band == k
        out[f"{20 * k}-{20 * (k + 1)}%"] = {
            "clips": int(chosen.sum()),
            "accuracy": _share(pred[chosen] == labels[chosen]),
            "rotation": _share(pred[chosen & rotating] == labels[chosen & rotating]),
        }
    return out


def classification(
    model: nn.Module,
    clips: np.ndarray,
    labels: np.ndarray,
    contract: InputContract,
    *,
    first: int = 220,
    difficulty: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every classification measure of issue 9 on `clips` [N, T, S, S, 3] with `labels` [N]."""
    pred = logits(model, clips, contract).argmax(1)
    paired = labels != 0
    rev_pred = logits(model, np.ascontiguousarray(clips[paired][:, ::-1]), contract).argmax(1)
    partner = np.asarray(PARTNER)[labels[paired]]
    in_pair = (pred[paired] == labels[paired]) | (pred[paired] == partner)
    rotating = np.isin(labels, ROTATION)
    rot_in_pair = np.isin(pred[rotating], ROTATION)
    head = np.arange(len(labels)) < first
    return {
        "clips": len(labels),
        "accuracy": _share(pred == labels),
        "per_class": {LABELS[k]: round(_share(pred[labels == k] == k), 3) for k in range(NUM_CLASSES)},
        "reversal_to_partner": _share(rev_pred == partner),
        "pair_accuracy": _share(in_pair),
        "within_pair_accuracy": _share(pred[paired][in_pair] == labels[paired][in_pair]),
        "rotation": {
            "clockwise": _share(pred[labels == ROTATION[0]] == ROTATION[0]),
            "counterclockwise": _share(pred[labels == ROTATION[1]] == ROTATION[1]),
            "within_pair": _share(pred[rotating][rot_in_pair] == labels[rotating][rot_in_pair]),
        },
        f"first_{first}": {
            "accuracy": _share(pred[head] == labels[head]),
            "reversal_to_partner": _share(rev_pred[head[paired]] == partner[head[paired]]),
        },
    } | ({} if difficulty is None else {"by_difficulty": by_difficulty(pred, labels, difficulty)})


@torch.no_grad()
def attention_concentration(
    model: nn.Module, rendered: list[RenderedClip], contract: InputContract
) -> dict[str, Any]:
    """Share of spatial attention inside the object's mask vs the share the mask covers.

    Masks are averaged over each patch (coverage in [0, 1]); the share is sum(att * cover) / sum(att) per
    frame, averaged over frames and clips. Reported for moving objects and for every non-static class.
    """
    model.eval()
    p, tub = contract.patch_size, contract.tubelet_size
    out: dict[str, Any] = {}
    groups = {"moving": (1, 2, 3, 4), "all_non_static": tuple(range(1, NUM_CLASSES))}
    for name, classes in groups.items():
        chosen = [c for c in rendered if c.label in classes]
        clips = np.stack([c.frames for c in chosen])
        att = []
        for i in range(0, len(clips), 64):
            res = model(to_tensor(clips[i : i + 64], contract.mean, contract.std), return_attention=True)
            att.append(res.spatial_attention.float().numpy())
        a = np.concatenate(att)  # [B, T', h, w]
        masks = np.stack([c.masks for c in chosen])  # [B, T, H, W]
        b, t, hh, ww = masks.shape
        cover = masks.reshape(b, t // tub, tub, hh // p, p, ww // p, p).mean((2, 4, 6))
        a = a / a.sum((2, 3), keepdims=True)
        inside = (a * cover).sum((2, 3))
        uniform = cover.mean((2, 3))
        out[name] = {
            "clips": len(chosen),
            "attention_inside_object": round(float(inside.mean()), 4),
            "uniform_share": round(float(uniform.mean()), 4),
            "ratio": round(float(inside.mean() / uniform.mean()), 2),
        }
    return out


@torch.no_grad()
def latency(model: nn.Module, contract: InputContract, *, repeats: int = 30) -> dict[str, Any]:
    """Milliseconds per clip on CPU at batch 1 and 8 (random input), and the parameter count."""
    model.eval()
    shape = (contract.num_frames, 3, contract.image_size, contract.image_size)
    x1, x8 = torch.randn(1, *shape), torch.randn(8, *shape)
    for _ in range(3):
        model(x1)
    t0 = time.perf_counter()
    for _ in range(repeats):
        model(x1)
    t1 = time.perf_counter()
    for _ in range(max(1, repeats // 4)):
        model(x8)
    t2 = time.perf_counter()
    return {
        "threads": torch.get_num_threads(),
        "ms_per_clip_batch1": round((t1 - t0) / repeats * 1000, 2),
        "ms_per_clip_batch8": round((t2 - t1) / max(1, repeats // 4) / 8 * 1000, 2),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
