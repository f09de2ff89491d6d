"""Measure a `motion` model the way issue 9 checks it, and record the results in its card.

- test accuracy on a fixed synthetic test set (seed `TEST_SEED`, never used in training), per class;
- reversal: reversed clips of the paired classes predicted as the partner class;
- within-pair accuracy (chance 0.5): the evidence that a model uses frame order;
- encoded clips: rendered at 320x240@30 fps and 640x360@24 fps, 2–6 s, H.264/MP4 via PyAV, decoded,
  sampled as the card says (uniform), short side resized and centre-cropped;
- spatial attention concentration: the share of the spatial attention mass inside the object's mask
  against the share the mask covers (what uniform attention would give);
- CPU latency per clip.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from models.base import VideoModel
from models.demo.data import to_tensor
from models.demo.encode import read_video, write_mp4
from models.demo.motion import LABELS, NUM_CLASSES, PARTNER, render_clip, render_test_clips, test_seed_rng

TEST_SEED = 20_261_124
ENCODED_SEED = 4_242
ENCODED_FORMATS: tuple[tuple[int, int, float], ...] = ((320, 240, 30.0), (640, 360, 24.0))
Logger = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def uniform_indices(num_source: int, num_frames: int) -> np.ndarray:
    """Centres of `num_frames` equal segments spanning `num_source` frames (the card's `uniform`)."""
    return np.minimum(
        ((np.arange(num_frames) + 0.5) * num_source / num_frames).astype(np.int64), num_source - 1
    )


def resize_short_side_center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 [T, H, W, 3] -> [T, size, size, 3]: short side to `size` (bilinear, antialiased), centre crop."""
    _, h, w, _ = frames.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        img = Image.fromarray(frame).resize((nw, nh), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img)[top : top + size, left : left + size]
    return out


def video_to_input(frames: np.ndarray, num_frames: int, image_size: int) -> np.ndarray:
    """A decoded video -> the model's uint8 clip [T, S, S, 3] (uniform sampling, resize, crop)."""
    return resize_short_side_center_crop(frames[uniform_indices(len(frames), num_frames)], image_size)


@torch.no_grad()
def _logits(model: nn.Module, clips: np.ndarray, card: Any, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(clips), batch):
        out.append(model(to_tensor(clips[i : i + batch], card.input.mean, card.input.std)).logits.numpy())
    return np.concatenate(out)


def classification_measures(
    model: nn.Module, card: Any, *, n: int = 2200, seed: int = TEST_SEED
) -> dict[str, Any]:
    """Test accuracy, per-class accuracy, reversal and within-pair accuracy on the fixed test set."""
    rendered = render_test_clips(
        n, seed, num_frames=card.input.num_frames, height=card.input.image_size, width=card.input.image_size
    )
    clips = np.stack([c.frames for c in rendered])
    labels = np.array([c.label for c in rendered])
    pred = _logits(model, clips, card).argmax(1)
    paired = labels != 0
    rev_pred = _logits(model, clips[paired][:, ::-1], card).argmax(1)
    partner = np.asarray(PARTNER)[labels[paired]]
    in_pair = (pred[paired] == labels[paired]) | (pred[paired] == partner)
    first = np.arange(n) < 220  # the clips of `make_test_set(220, seed)` (the shipped-model test)
    rev_first = first[paired]
    return {
        "test_clips": n,
        "test_seed": seed,
        "accuracy": round(float((pred == labels).mean()), 4),
        "per_class": {
            LABELS[k]: round(float((pred[labels == k] == k).mean()), 3) for k in range(NUM_CLASSES)
        },
        "reversal_to_partner": round(float((rev_pred == partner).mean()), 4),
        "pair_accuracy": round(float(in_pair.mean()), 4),
        "within_pair_accuracy": round(float((pred[paired][in_pair] == labels[paired][in_pair]).mean()), 4),
        "first_220": {
            "accuracy": round(float((pred[first] == labels[first]).mean()), 4),
            "reversal_to_partner": round(float((rev_pred[rev_first] == partner[rev_first]).mean()), 4),
        },
    }


def encoded_inputs(
    *,
    per_format: int,
    num_frames: int,
    image_size: int,
    seed: int = ENCODED_SEED,
    formats: tuple[tuple[int, int, float], ...] = ENCODED_FORMATS,
    cache_dir: Path | None = None,
    log: Logger = _silent,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Clips rendered at each format, 2–6 s long, encoded to H.264/MP4, decoded with PyAV, sampled
    uniformly and resized/cropped to the model's input: {"WxH@fps": (uint8 [N, T, S, S, 3], labels)}.

    The result depends only on the arguments, so it is cached (`cache_dir`) and shared by models.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for w, h, fps in formats:
        key = f"{w}x{h}@{fps:g}"
        cached = None
        if cache_dir is not None:
            cached = Path(cache_dir) / f"encoded_{key}_{per_format}_{seed}_{num_frames}x{image_size}.npz"
            if cached.is_file():
                data = np.load(cached)
                out[key] = (data["clips"], data["labels"])
                continue
        clips = np.empty((per_format, num_frames, image_size, image_size, 3), dtype=np.uint8)
        labels = np.arange(per_format) % NUM_CLASSES
        for i in range(per_format):
            g = test_seed_rng(seed + w, i)
            seconds = float(g.uniform(2.0, 6.0))
            n_frames = max(num_frames, round(seconds * fps))
            frames = render_clip(int(labels[i]), g, num_frames=n_frames, height=h, width=w, fps=fps).frames
            decoded, _ = read_video(write_mp4(frames, None, fps) or b"")
            clips[i] = video_to_input(decoded, num_frames, image_size)
        log(f"encoded {key}: {per_format} clips rendered, encoded and decoded")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cached, clips=clips, labels=labels)
        out[key] = (clips, labels)
    return out


def encoded_measures(
    model: nn.Module,
    card: Any,
    *,
    per_format: int = 44,
    seed: int = ENCODED_SEED,
    formats: tuple[tuple[int, int, float], ...] = ENCODED_FORMATS,
    cache_dir: Path | None = None,
    log: Logger = _silent,
) -> dict[str, Any]:
    """Accuracy on clips rendered at other sizes/fps, encoded as H.264/MP4, decoded and sampled uniformly."""
    sets = encoded_inputs(
        per_format=per_format,
        num_frames=card.input.num_frames,
        image_size=card.input.image_size,
        seed=seed,
        formats=formats,
        cache_dir=cache_dir,
        log=log,
    )
    results: dict[str, Any] = {}
    for key, (clips, labels) in sets.items():
        results[key] = round(float((_logits(model, clips, card).argmax(1) == labels).mean()), 4)
    results["clips_per_format"] = per_format
    results["seconds"] = "2-6"
    results["accuracy"] = round(float(np.mean([results[k] for k in sets])), 4)
    return results


@torch.no_grad()
def attention_measures(model: nn.Module, card: Any, *, n: int = 440, seed: int = TEST_SEED) -> dict[str, Any]:
    """Share of spatial attention inside the object's mask vs the share the mask covers (uniform attention).

    Masks are averaged over each patch (coverage in [0, 1]); the share is sum(att * cover) / sum(att) per
    frame, averaged over frames and clips. Reported for moving objects and for every non-static class.
    """
    model.eval()
    rendered = render_test_clips(
        n, seed, num_frames=card.input.num_frames, height=card.input.image_size, width=card.input.image_size
    )
    p, tub = card.input.patch_size, card.input.tubelet_size
    out: dict[str, Any] = {}
    groups = {"moving": (1, 2, 3, 4), "all_non_static": tuple(range(1, NUM_CLASSES))}
    for name, classes in groups.items():
        chosen = [c for c in rendered if c.label in classes]
        clips = np.stack([c.frames for c in chosen])
        att = []
        for i in range(0, len(clips), 64):
            res = model(to_tensor(clips[i : i + 64], card.input.mean, card.input.std), return_attention=True)
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
def latency_measures(model: nn.Module, card: Any, *, repeats: int = 30) -> dict[str, Any]:
    model.eval()
    x1 = torch.randn(1, card.input.num_frames, 3, card.input.image_size, card.input.image_size)
    x8 = torch.randn(8, card.input.num_frames, 3, card.input.image_size, card.input.image_size)
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


def evaluate_model(
    model: VideoModel,
    *,
    quick: bool = False,
    attention: bool = True,
    cache_dir: Path | None = None,
    log: Logger = _silent,
) -> dict[str, Any]:
    """Every measure of issue 9 for `model` (quick: smaller sets, for tests)."""
    card = model.card
    results: dict[str, Any] = {}
    results["test"] = classification_measures(model, card, n=220 if quick else 2200)
    log(f"test: {json.dumps(results['test'])}")
    results["encoded"] = encoded_measures(
        model, card, per_format=11 if quick else 44, cache_dir=cache_dir, log=log
    )
    log(f"encoded: {json.dumps(results['encoded'])}")
    if attention:
        results["attention"] = attention_measures(model, card, n=110 if quick else 440)
        log(f"attention: {json.dumps(results['attention'])}")
    results["latency"] = latency_measures(model, card)
    log(f"latency: {json.dumps(results['latency'])}")
    return results


def with_extra(model: VideoModel, **extra: Any) -> None:
    """Merge `extra` into the model's card (the card is frozen: replace it)."""
    card = model.card
    model.card = dataclasses.replace(card, extra={**card.extra, **extra})


def save_trained(model: VideoModel, out: Path, facts: dict[str, Any]) -> None:
    """Save a trained model with its training facts in `card.extra["training"]`."""
    import models

    with_extra(model, training=facts)
    models.save_pretrained(model, out)
    _write_card_json(model, out)


def _write_card_json(model: VideoModel, out: Path) -> None:
    card = model.card
    (Path(out) / "card.json").write_text(card.to_json() + "\n")


def evaluate_saved(
    path: Path,
    *,
    quick: bool = False,
    cache_dir: Path | None = Path("runs/eval-cache"),
    log: Logger = _silent,
) -> dict[str, Any]:
    """Load a saved model, measure it, write the results into its card and save it back."""
    import models

    model = models.load_pretrained(str(path))
    is_temporal = model.card.attention != "space_only"
    results = evaluate_model(model, quick=quick, attention=is_temporal, cache_dir=cache_dir, log=log)
    with_extra(model, results=results)
    models.save_pretrained(model, path)
    _write_card_json(model, path)
    return results
