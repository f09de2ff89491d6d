"""`vtserve train-demo`: train a small video transformer on the synthetic `motion` dataset.

    vtserve train-demo --model motion-timesformer --out models/weights/motion-timesformer --minutes 50
    vtserve train-demo --model motion-vivit --out models/weights/motion-vivit --minutes 50 --resume
    vtserve train-demo --model motion-space-only --out runs/space-only --minutes 50
    vtserve train-demo --evaluate models/weights/motion-timesformer      # measure and write card results

Deterministic with `--seed`: batch k is drawn from `(seed, k)`, so `--resume` continues the same run. The
budget is `--steps` or, if not given, `--minutes` (the step count is calibrated on the first steps and
then fixed, so the schedule is known). Every `--eval-every` steps the accuracy on a fixed validation set
(and how often a reversed clip flips to the partner class) is printed and logged to
`runs/<name>/log.jsonl`; a resumable checkpoint is kept in `runs/<name>/checkpoint.pt`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from models.demo.data import Curriculum, degrade, paired_batch, to_tensor
from models.demo.motion import PARTNER, make_test_set


@dataclass(kw_only=True)
class TrainConfig:
    name: str
    seed: int = 0
    steps: int | None = None
    minutes: float = 50.0
    batch_size: int = 48
    lr: float = 1e-3
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.05
    warmup: int = 200
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    val_size: int = 330
    val_seed: int = 777
    curriculum: Curriculum = field(default_factory=Curriculum)
    blur: float = 0.5
    threads: int = 1
    runs_dir: Path = Path("runs")


@dataclass(kw_only=True)
class InputSpec:
    num_frames: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


Logger = Callable[[str], None]


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logits for a normalised batch [N, T, 3, H, W], evaluated in chunks."""
    was_training = model.training
    model.eval()
    out = [model(x[i : i + batch_size]).logits for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)


def accuracy_and_reversal(
    model: nn.Module, clips: np.ndarray, labels: np.ndarray, spec: InputSpec
) -> dict[str, float]:
    """Top-1 accuracy, and the share of paired-class clips whose reversal is predicted as the partner."""
    x = to_tensor(clips, spec.mean, spec.std)
    pred = predict(model, x).argmax(1).numpy()
    paired = labels != 0
    rev = predict(model, x[paired].flip(1)).argmax(1).numpy()
    partner = np.asarray(PARTNER)[labels[paired]]
    return {"acc": float((pred == labels).mean()), "reversal": float((rev == partner).mean())}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(
    model: nn.Module,
    spec: InputSpec,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    log: Logger = print,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `model` in place; returns the training facts (steps, minutes, final val numbers, curve)."""
    torch.set_num_threads(cfg.threads)
    run_dir = cfg.runs_dir / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.999),
    )
    step, total, elapsed, curve = 0, cfg.steps, 0.0, []
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, total, elapsed, curve = state["step"], state["total"], state["elapsed"], state["curve"]
        log(f"resumed {cfg.name} at step {step}/{total} ({elapsed / 60:.1f} min so far)")
    val_clips, val_labels = make_test_set(
        cfg.val_size, cfg.val_seed, num_frames=spec.num_frames, size=spec.image_size
    )
    model.train()
    running: list[float] = []
    t_start = time.perf_counter() - elapsed
    calibrate = total is None
    if calibrate:
        total = 10**9  # until calibrated
    bar = tqdm(total=total if not calibrate else None, initial=step, disable=not progress, unit="step")
    while step < total:
        d_max = cfg.curriculum.max_difficulty(step / total) if not calibrate else cfg.curriculum.start
        clips, labels = paired_batch(
            cfg.seed, step, cfg.batch_size, num_frames=spec.num_frames, size=spec.image_size, max_difficulty=d_max
        )
        x = to_tensor(clips, spec.mean, spec.std)
        if cfg.blur > 0:
            x = degrade(x, torch.Generator().manual_seed(cfg.seed * 1_000_003 + step), p_blur=cfg.blur)
        lr = lr_at(step, total, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(x).logits
        loss = F.cross_entropy(logits, torch.from_numpy(labels), label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        running.append(float(loss))
        step += 1
        bar.update(1)
        if calibrate and step == 30:
            per_step = (time.perf_counter() - t_start) / step
            total = max(step + 1, int(cfg.minutes * 60 / per_step))
            calibrate = False
            bar.total = total
            bar.refresh()
            log(f"calibrated: {per_step:.3f} s/step -> {total} steps for {cfg.minutes} min")
        if step % cfg.eval_every == 0 or step == total:
            elapsed = time.perf_counter() - t_start
            metrics = accuracy_and_reversal(model, val_clips, val_labels, spec)
            point = {
                "step": step,
                "minutes": round(elapsed / 60, 2),
                "loss": round(float(np.mean(running)), 4),
                "val_acc": round(metrics["acc"], 4),
                "val_reversal": round(metrics["reversal"], 4),
                "lr": round(lr, 6),
                "max_difficulty": round(d_max, 3),
            }
            running = []
            curve.append(point)
            with (run_dir / "log.jsonl").open("a") as fh:
                fh.write(json.dumps(point) + "\n")
            bar.set_postfix(loss=point["loss"], acc=point["val_acc"])
            log(
                f"step {step:>6}/{total}  {point['minutes']:6.1f} min  loss {point['loss']:.3f}  "
                f"val acc {point['val_acc']:.3f}  reversal {point['val_reversal']:.3f}  d_max {d_max:.2f}"
            )
            _save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "total": total,
                    "elapsed": elapsed,
                    "curve": curve,
                    "config": {k: str(v) for k, v in asdict(cfg).items()},
                },
            )
    bar.close()
    elapsed = time.perf_counter() - t_start
    return {
        "seed": cfg.seed,
        "steps": step,
        "batch_size": cfg.batch_size,
        "clips_seen": step * cfg.batch_size,
        "train_minutes": round(elapsed / 60, 1),
        "threads": cfg.threads,
        "optimizer": f"AdamW lr {cfg.lr} wd {cfg.weight_decay}, warm-up {cfg.warmup}, cosine",
        "label_smoothing": cfg.label_smoothing,
        "curriculum": asdict(cfg.curriculum),
        "val": curve[-1] if curve else {},
        "curve": [[p["step"], p["minutes"], p["val_acc"], p["val_reversal"]] for p in curve],
    }


# --- command line --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="motion-timesformer", help="a registered motion-* constructor")
    parser.add_argument("--out", type=Path, help="where to save the trained model (config + safetensors)")
    parser.add_argument("--minutes", type=float, default=50.0, help="budget when --steps is not given")
    parser.add_argument("--steps", type=int, help="number of optimiser steps (overrides --minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--resume", action="store_true", help="continue from runs/<name>/checkpoint.pt")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (a few steps) to check the pipeline")
    parser.add_argument("--evaluate", type=Path, metavar="DIR", help="evaluate a saved model and update its card")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import models
    from models.demo import evaluate

    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        results = evaluate.evaluate_saved(args.evaluate, log=print)
        print(json.dumps(results, indent=2))
        return 0
    torch.manual_seed(args.seed)
    model = models.create_model(args.model)
    card = model.card
    spec = InputSpec(num_frames=card.num_frames, image_size=card.image_size, mean=card.mean, std=card.std)
    name = Path(args.out).name if args.out is not None else args.model
    cfg = TrainConfig(
        name=name,
        seed=args.seed,
        steps=args.steps,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        eval_every=args.eval_every,
        threads=args.threads,
        runs_dir=args.runs_dir,
    )
    if args.smoke:
        cfg.steps, cfg.batch_size, cfg.warmup, cfg.eval_every, cfg.val_size = 4, 8, 2, 2, 22
    facts = train(model, spec, cfg, resume=args.resume, progress=not args.no_progress)
    print("accuracy curve (step, minutes, val acc, val reversal):")
    for point in facts["curve"]:
        print(f"  {point[0]:>6}  {point[1]:6.1f}  {point[2]:.3f}  {point[3]:.3f}")
    if args.out is not None:
        evaluate.save_trained(model, Path(args.out), facts)
        print(f"saved {args.out}")
    return 0
