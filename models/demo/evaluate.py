"""Measure a `motion` model the way issues 9 and 14 check it, and record the results in its card.

Test sets (never used in training or model selection; deterministic; the costly ones cached in
`cache_dir`, `runs/eval-cache` by default):

- `test_v2`: the in-distribution set, 2,200 clips of the v2 generator (`models.demo.generator`) drawn
  with `TEST_SEED` on its own stream;
- `renderer_b`: 440 clips of the independent renderer B (`models.demo.renderer_b`), encoded (MPEG-4
  part 2 or x264), decoded, sampled and cropped as the service does: the "does it generalise" number;
- `encoded_v2`: 220 v2 uploads through libx264 at crf 18–43 (the H.264 pool's round trip with
  `TEST_SEED`), also split by quality;
- `test` and `encoded`: issue 9's sets (2,200 clips of the issue-9 renderer; its clips at 320×240 @ 30
  and 640×360 @ 24 fps, 2–6 s, through H.264), kept so the numbers stay comparable with issue 9's.

Each classification set reports top-1, per-class accuracy, reversal → partner, pair and within-pair
accuracy and the rotation pair (`models.demo.measures.classification`); then attention concentration
and CPU latency.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from models.base import VideoModel
from models.contract import InputContract
from models.demo import generator, motion, renderer_b
from models.demo.encode import encoder_fingerprint, read_video, write_mp4
from models.demo.h264 import load_pool, pool_for
from models.demo.measures import attention_concentration, classification, latency
from models.demo.upload import resize_short_side_center_crop, uniform_indices, video_to_input

__all__ = ["resize_short_side_center_crop", "uniform_indices", "video_to_input"]  # re-exported

TEST_SEED = 20_261_124
ENCODED_SEED = 4_242
ENCODED_FORMATS: tuple[tuple[int, int, float], ...] = ((320, 240, 30.0), (640, 360, 24.0))
B_FIRST = 55  # renderer B clips the shipped-model tests re-measure (5 per class)
Logger = Callable[[str], None]


def _silent(_: str) -> None:
    pass


def _cached(path: Path | None, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """`make()`'s arrays, stored at `path` (npz) the first time and read back afterwards."""
    if path is not None and path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    arrays = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
    return arrays


def renderer_b_set(
    n: int, contract: InputContract, *, seed: int = TEST_SEED, cache_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Renderer B's test set at the model's input (labels cycling through the classes)."""
    t, s = contract.num_frames, contract.image_size
    name = f"{renderer_b.RENDERER}_{n}_{seed}_{t}x{s}_{renderer_b.fingerprint()}.npz"
    path = None if cache_dir is None else Path(cache_dir) / name

    def make() -> dict[str, np.ndarray]:
        clips, labels = renderer_b.make_test_set(n, seed, num_frames=t, size=s)
        return {"clips": clips, "labels": labels}

    data = _cached(path, make)
    return data["clips"], data["labels"]


def h264_v2_set(
    n: int, contract: InputContract, *, cache_dir: Path | None = None, log: Logger = _silent
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` v2 uploads through libx264 (the pool's round trip with `TEST_SEED`): (clips, labels, crf)."""
    spec = replace(pool_for(contract.num_frames, contract.image_size, n), seed=TEST_SEED)
    root = Path(cache_dir if cache_dir is not None else "runs/eval-cache") / "motion-h264"
    pool = load_pool(spec, n, contract.image_size, root, log)
    return pool.clips, pool.labels, pool.crf


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
    """Issue 9's H.264 check: issue-9 clips rendered at each format, 2–6 s long, encoded to H.264/MP4,
    decoded, sampled uniformly and resized/cropped: {"WxH@fps": (uint8 [N, T, S, S, 3], labels)}."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for w, h, fps in formats:
        key = f"{w}x{h}@{fps:g}"

        def make(w: int = w, h: int = h, fps: float = fps, key: str = key) -> dict[str, np.ndarray]:
            clips = np.empty((per_format, num_frames, image_size, image_size, 3), dtype=np.uint8)
            labels = np.arange(per_format) % motion.NUM_CLASSES
            for i in range(per_format):
                g = motion.test_seed_rng(seed + w, i)
                n_frames = max(num_frames, round(float(g.uniform(2.0, 6.0)) * fps))
                frames = motion.render_clip(int(labels[i]), g, num_frames=n_frames, height=h, width=w).frames
                decoded, _ = read_video(write_mp4(frames, None, fps, reproducible=True) or b"")
                clips[i] = video_to_input(decoded, num_frames, image_size)
            log(f"encoded {key}: {per_format} clips rendered, encoded and decoded")
            return {"clips": clips, "labels": labels}

        name = f"encoded_{key}_{per_format}_{seed}_{num_frames}x{image_size}_{encoder_fingerprint()}.npz"
        data = _cached(None if cache_dir is None else Path(cache_dir) / name, make)
        out[key] = (data["clips"], data["labels"])
    return out


def encoded_measures(
    model: nn.Module, contract: InputContract, *, per_format: int = 44, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Issue 9's H.264 accuracy per format and on average."""
    sets = encoded_inputs(
        per_format=per_format,
        num_frames=contract.num_frames,
        image_size=contract.image_size,
        cache_dir=cache_dir,
    )
    results: dict[str, Any] = {}
    for key, (clips, labels) in sets.items():
        results[key] = classification(model, clips, labels, contract)["accuracy"]
    results["clips_per_format"] = per_format
    results["seconds"] = "2-6"
    results["accuracy"] = round(float(np.mean([results[k] for k in sets])), 4)
    return results


def _v2_h264_measures(
    model: nn.Module, contract: InputContract, n: int, cache_dir: Path | None
) -> dict[str, Any]:
    clips, labels, crf = h264_v2_set(n, contract, cache_dir=cache_dir)
    out = classification(model, clips, labels, contract)
    for name, chosen in (("crf_18_28", crf <= 28), ("crf_33_43", crf >= 33)):
        out[name] = (
            classification(model, clips[chosen], labels[chosen], contract)["accuracy"]
            if chosen.any()
            else None
        )
    return out


def evaluate_model(
    model: VideoModel,
    *,
    quick: bool = False,
    attention: bool = True,
    cache_dir: Path | None = None,
    log: Logger = _silent,
) -> dict[str, Any]:
    """Every measure of issues 9 and 14 for `model` (quick: smaller sets, for tests and pilots)."""
    c = model.card.input
    n = 220 if quick else 2200
    results: dict[str, Any] = {}
    v2 = generator.render_test_clips(n, TEST_SEED, num_frames=c.num_frames, size=c.image_size)
    clips, labels = np.stack([r.frames for r in v2]), np.array([r.label for r in v2])
    difficulty = np.array([generator.test_difficulty(TEST_SEED, i) for i in range(n)])
    results["test_v2"] = {
        "generator": generator.GENERATOR,
        "seed": TEST_SEED,
        **classification(model, clips, labels, c, difficulty=difficulty),
    }
    log(f"test_v2: {json.dumps(results['test_v2'])}")
    clips, labels = renderer_b_set(110 if quick else 440, c, cache_dir=cache_dir)
    results["renderer_b"] = {
        "renderer": renderer_b.RENDERER,
        **classification(model, clips, labels, c, first=B_FIRST),  # the shipped-model test re-measures those
    }
    log(f"renderer_b: {json.dumps(results['renderer_b'])}")
    results["encoded_v2"] = _v2_h264_measures(model, c, 44 if quick else 220, cache_dir)
    log(f"encoded_v2: {json.dumps(results['encoded_v2'])}")
    v1 = motion.render_test_clips(
        n, TEST_SEED, num_frames=c.num_frames, height=c.image_size, width=c.image_size
    )
    clips, labels = np.stack([r.frames for r in v1]), np.array([r.label for r in v1])
    results["test"] = {"test_clips": n, "test_seed": TEST_SEED, **classification(model, clips, labels, c)}
    log(f"test (issue 9): {json.dumps(results['test'])}")
    results["encoded"] = encoded_measures(model, c, per_format=11 if quick else 44, cache_dir=cache_dir)
    log(f"encoded (issue 9): {json.dumps(results['encoded'])}")
    if attention:
        results["attention"] = attention_concentration(model, v1[: 110 if quick else 440], c)
        log(f"attention: {json.dumps(results['attention'])}")
    results["latency"] = latency(model, c)
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
    write: bool = True,
    log: Logger = _silent,
) -> dict[str, Any]:
    """Load a saved model, measure it and (with `write`) record the results in its card and save it back."""
    import models

    model = models.load_pretrained(str(path))
    is_temporal = model.card.attention != "space_only"
    results = evaluate_model(model, quick=quick, attention=is_temporal, cache_dir=cache_dir, log=log)
    if write:
        with_extra(model, results=results)
        models.save_pretrained(model, path)
        _write_card_json(model, path)
    return results
