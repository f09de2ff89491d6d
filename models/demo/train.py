"""`vtserve train-demo`: train a small video transformer on the synthetic `motion` dataset.

    vtserve train-demo --model motion-timesformer --out models/weights/motion-timesformer --minutes 50
    vtserve train-demo --model motion-vivit --out models/weights/motion-vivit --minutes 50 --resume
    vtserve train-demo --model motion-space-only --out runs/space-only --minutes 50
    vtserve train-demo --evaluate models/weights/motion-timesformer      # measure and write card results
    vtserve train-demo --model motion-timesformer --init models/weights/motion-timesformer --out DIR # tune
    vtserve train-demo --model motion-vivit --device cuda --workers 12 --batch-size 256 --out DIR  # a GPU

Data: the v2 generator (`models.demo.generator`) with a share of H.264 round trips from a pool built once
per machine under `cache/motion-h264` (`--h264-share`, `--h264-items`; ~5 items/s on one core, so the
default 2,048 take ~7 min the first time) and of issue-9 clips (`--issue9-share`); see `models.demo.data`.
Validation uses v2 clips of another seed.

Deterministic with `--seed`: batch k is drawn from `(seed, k)`, so `--resume` continues the same run. The
budget is `--steps` or, if not given, `--minutes` (the step count is calibrated on the first steps and
then fixed, so the schedule is known). Every `--eval-every` steps the accuracy on a fixed validation set
(and how often a reversed clip flips to the partner class) is printed and logged to
`runs/<name>/log.jsonl`; a resumable checkpoint is kept in `runs/<name>/checkpoint.pt`.

`--device` puts the model on any torch device; batches are always made on the CPU, by `--workers`
processes ahead of the optimiser where there are spare cores (`models.demo.loader`).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from models.base import VideoModel
from models.contract import InputContract
from models.demo import generator
from models.demo.data import Curriculum, Mix, TrainBatch, aux_targets, degrade, paired_batch, to_tensor
from models.demo.h264 import DEFAULT_ROOT, Pool, load_pool, pool_for
from models.demo.loader import Batches
from models.demo.recipe import AuxHead, init_embeddings, load_weights
from models.demo.runs import RunState, Validation, load_checkpoint, record


@dataclass(kw_only=True)
class TrainConfig:
    name: str
    seed: int = 0
    steps: int | None = None
    minutes: float = 50.0
    batch_size: int = 32
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.05
    warmup: int = 200
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 250
    val_size: int = 220
    val_seed: int = 777
    curriculum: Curriculum = field(default_factory=Curriculum)
    mix: Mix = field(default_factory=Mix)  # shares of H.264 pool items and issue-9 clips; the rest v2
    h264_items: int = 2048  # pool size (built once per machine under h264_root, ~5 items/s on one core)
    h264_root: Path = DEFAULT_ROOT
    blur: float = 0.5
    embed_init_scale: float = 0.5
    aux_weight: float = 1.0
    motion_probe: bool = True  # the probe also predicts the object's motion per patch (`aux_targets`)
    explicit_attention: bool = True  # softmax(qk)v for training: ~1.35x faster than CPU SDPA at these sizes
    max_minutes: float | None = None
    init_from: Path | None = None  # start from this saved model's weights (fine-tuning), not a fresh init
    stop_at: int | None = None  # stop (as if interrupted) after this step; the schedule keeps `steps`
    threads: int = 1
    device: str = "cpu"  # where the model trains ("cuda" on a GPU host); batches are made on the CPU
    workers: int = 0  # processes making the next batches while the model trains (`loader.Batches`)
    runs_dir: Path = Path("runs")


Logger = Callable[[str], None]


def lr_at(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over `cfg.warmup` steps, then a cosine over the run's progress (0..1) to a floor."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def run_progress(step: int, total: int, elapsed: float, max_minutes: float | None) -> float:
    """How far the run is (0..1): by steps, or by wall time when `max_minutes` binds first.

    With a time budget the schedule (cosine, curriculum) still completes on time; the run is then
    reproducible only up to where the time budget took over (logged).
    """
    by_steps = step / max(1, total)
    if max_minutes is None:
        return by_steps
    return max(by_steps, elapsed / (max_minutes * 60.0))


def _pool(spec: InputContract, cfg: TrainConfig, log: Logger) -> Pool | None:
    if cfg.mix.h264 <= 0 or cfg.h264_items <= 0:
        return None
    pool_spec = pool_for(spec.num_frames, spec.image_size, cfg.h264_items)
    t0 = time.perf_counter()
    pool = load_pool(pool_spec, cfg.h264_items, spec.image_size, cfg.h264_root, log)
    log(f"H.264 pool: {len(pool)} clips ({pool_spec.key}) ready in {time.perf_counter() - t0:.1f} s")
    return pool


def _past(t_start: float, max_minutes: float | None) -> bool:
    return max_minutes is not None and time.perf_counter() - t_start > max_minutes * 60 - 5


def _optimizer(model: nn.Module, aux: AuxHead, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on the weight matrices only (not on biases, norms or embeddings)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": list(aux.parameters()), "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def _batch(cfg: TrainConfig, spec: InputContract, pool: Pool | None, step: int, d_max: float) -> TrainBatch:
    return paired_batch(
        cfg.seed,
        step,
        cfg.batch_size,
        num_frames=spec.num_frames,
        size=spec.image_size,
        max_difficulty=d_max,
        patch=spec.patch_size,
        mix=cfg.mix,
        pool=pool,
    )


def _loss(
    model: nn.Module, aux: AuxHead, batch: TrainBatch, spec: InputContract, cfg: TrainConfig, step: int
) -> torch.Tensor:
    """Cross-entropy (label smoothing) plus the probe's loss on one batch (blurred as the recipe says)."""
    device = next(model.parameters()).device
    x = to_tensor(batch.clips, spec.mean, spec.std)
    if cfg.blur > 0:
        x = degrade(x, torch.Generator().manual_seed(cfg.seed * 1_000_003 + step), p_blur=cfg.blur)
    logits = model(x.to(device)).logits
    labels = torch.from_numpy(batch.labels).to(device)
    loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
    if cfg.aux_weight > 0:
        motion = torch.from_numpy(batch.motion) if cfg.motion_probe else None
        target = aux_targets(torch.from_numpy(batch.cover), spec.tubelet_size, motion).to(device)
        loss = loss + cfg.aux_weight * F.mse_loss(aux.predict(target.shape[0], target.shape[1]), target)
    return loss


def _step(
    model: nn.Module,
    aux: AuxHead,
    opt: torch.optim.Optimizer,
    batch: TrainBatch,
    spec: InputContract,
    cfg: TrainConfig,
    step: int,
    lr: float,
) -> float:
    """One optimiser step at learning rate `lr`; returns the loss."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss = _loss(model, aux, batch, spec, cfg, step)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return float(loss.detach())


def _start(
    model: VideoModel, cfg: TrainConfig, resume: bool, log: Logger
) -> tuple[AuxHead, torch.optim.Optimizer, RunState, bool]:
    """Embeddings, probe and optimiser, restored from the run's checkpoint when resuming: (aux, opt,
    run, resumed)."""
    if cfg.init_from is not None:
        load_weights(model, cfg.init_from)
        log(f"initialised from {cfg.init_from}")
    else:
        init_embeddings(model, cfg.embed_init_scale)
    aux = AuxHead(model, motion=cfg.motion_probe).to(cfg.device)  # on the device before the optimiser
    if cfg.explicit_attention:
        model.set_fused_attn(False)  # back to the config's choice before returning
    opt = _optimizer(model, aux, cfg)
    path = cfg.runs_dir / cfg.name / "checkpoint.pt"
    resumed = resume and path.exists()
    run = load_checkpoint(path, model, aux, opt) if resumed else RunState()
    if cfg.steps is not None:
        if resumed and cfg.steps != run.total:
            log(f"schedule changed on resume: {run.total} -> {cfg.steps} steps")
        run.total = cfg.steps
    if resumed:
        log(f"resumed {cfg.name} at step {run.step}/{run.total} ({run.elapsed / 60:.1f} min so far)")
    return aux, opt, run, resumed


def train(
    model: VideoModel,
    spec: InputContract,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    log: Logger = print,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `model` in place (on `cfg.device`, back on the CPU after); returns the training facts
    (steps, minutes, final val numbers, curve)."""
    torch.set_num_threads(cfg.threads)
    (cfg.runs_dir / cfg.name).mkdir(parents=True, exist_ok=True)
    pool = _pool(spec, cfg, log)
    with Batches(partial(_batch, cfg, spec, pool), workers=cfg.workers) as batches:  # forks before CUDA
        model.to(cfg.device)
        aux, opt, run, resumed = _start(model, cfg, resume, log)
        clips, labels = generator.make_test_set(
            cfg.val_size, cfg.val_seed, num_frames=spec.num_frames, size=spec.image_size
        )
        val = Validation(clips=clips, labels=labels, spec=spec, run_dir=cfg.runs_dir / cfg.name)
        calibrate = cfg.steps is None and not resumed
        _loop(model, aux, opt, run, val, batches, cfg, calibrate=calibrate, log=log, progress=progress)
    model.set_fused_attn(model.config.fused_attn)
    model.to("cpu")
    return _facts(cfg, run, len(pool) if pool is not None else 0)


def _loop(
    model: VideoModel,
    aux: AuxHead,
    opt: torch.optim.Optimizer,
    run: RunState,
    val: Validation,
    batches: Batches,
    cfg: TrainConfig,
    *,
    calibrate: bool,
    log: Logger,
    progress: bool,
) -> None:
    """Optimiser steps until the schedule (steps or time) ends, validating and checkpointing as it goes;
    `calibrate`: fix the step count for `cfg.minutes` from the first steps' pace."""
    config = {k: str(v) for k, v in asdict(cfg).items()}
    model.train()
    running: list[float] = []
    t_start = time.perf_counter() - run.elapsed
    closing_logged = False
    bar = tqdm(total=None if calibrate else run.total, initial=run.step, disable=not progress, unit="step")

    def difficulty_at(k: int) -> float:
        if calibrate:
            return cfg.curriculum.start
        frac = run_progress(k, run.total, time.perf_counter() - t_start, cfg.max_minutes)
        return cfg.curriculum.max_difficulty(frac)

    while run.step < run.total and (cfg.stop_at is None or run.step < cfg.stop_at):
        frac = run_progress(run.step, run.total, time.perf_counter() - t_start, cfg.max_minutes)
        if frac >= 1.0:
            log(f"stopping at step {run.step}: --max-minutes {cfg.max_minutes} reached")
            break
        d_max, lr = difficulty_at(run.step), lr_at(run.step, frac, cfg)
        batch = batches.get(run.step, difficulty_at)
        running.append(_step(model, aux, opt, batch, val.spec, cfg, run.step, lr))
        run.step += 1
        bar.update(1)
        if calibrate and run.step == 30:  # the step count for --minutes, from the first steps' pace
            per_step = (time.perf_counter() - t_start) / run.step
            run.total, calibrate = max(run.step + 1, int(cfg.minutes * 60 / per_step)), False
            bar.total = run.total
            bar.refresh()
            log(f"calibrated: {per_step:.3f} s/step -> {run.total} steps for {cfg.minutes} min")
        closing = not closing_logged and _past(t_start, cfg.max_minutes)  # once, 5 s before the time budget
        closing_logged = closing_logged or closing
        if run.step % cfg.eval_every == 0 or run.step == run.total or closing:
            run.elapsed = time.perf_counter() - t_start
            point = {
                "step": run.step,
                "minutes": round(run.elapsed / 60, 2),
                "loss": round(np.mean(running), 4),
            }
            point |= {"lr": round(lr, 6), "max_difficulty": round(d_max, 3)}
            point = record(model, aux, opt, run, val, point, config, log)
            running = []
            bar.set_postfix(loss=point["loss"], acc=point["val_acc"])
    bar.close()
    run.elapsed = time.perf_counter() - t_start


def _facts(cfg: TrainConfig, run: RunState, pool_items: int) -> dict[str, Any]:
    """What the card records about the run (`card.extra["training"]`)."""
    return {
        "seed": cfg.seed,
        "initialised_from": None if cfg.init_from is None else str(cfg.init_from),
        "steps": run.step,
        "batch_size": cfg.batch_size,
        "clips_seen": run.step * cfg.batch_size,
        "train_minutes": round(run.elapsed / 60, 1),
        "threads": cfg.threads,
        "optimizer": f"AdamW lr {cfg.lr} wd {cfg.weight_decay}, warm-up {cfg.warmup}, cosine",
        "label_smoothing": cfg.label_smoothing,
        "curriculum": asdict(cfg.curriculum),
        "data": {"generator": generator.GENERATOR, "mix": asdict(cfg.mix), "h264_pool": pool_items},
        "auxiliary_probe": "coverage, change"
        + (", motion" if cfg.motion_probe else "")
        + f" (weight {cfg.aux_weight})",
        "attention_in_training": "explicit" if cfg.explicit_attention else "fused (SDPA)",
        "val": run.curve[-1] if run.curve else {},
        "curve": [[p["step"], p["minutes"], p["val_acc"], p["val_reversal"]] for p in run.curve],
    }


# --- command line --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="motion-timesformer", help="a registered motion-* constructor")
    parser.add_argument("--out", type=Path, help="where to save the trained model (config + safetensors)")
    parser.add_argument("--minutes", type=float, default=50.0, help="budget when --steps is not given")
    parser.add_argument("--steps", type=int, help="number of optimiser steps (overrides --minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--embed-init-scale", type=float, default=0.5, help="size of the DCT time/position embeddings at init"
    )
    parser.add_argument("--aux-weight", type=float, default=1.0, help="weight of the coverage probe loss")
    parser.add_argument(
        "--no-motion-probe", action="store_true", help="the probe predicts coverage only, not motion"
    )
    parser.add_argument("--max-minutes", type=float, help="stop (and save) after this much wall time")
    parser.add_argument(
        "--init", type=Path, metavar="DIR", help="fine-tune: start from a saved model of this architecture"
    )
    parser.add_argument(
        "--curriculum-ramp", type=float, default=0.5, help="share of the run to reach full difficulty"
    )
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--h264-share", type=float, default=0.25, help="share of clips from the H.264 pool")
    parser.add_argument("--h264-items", type=int, default=2048, help="H.264 pool size (built once, cached)")
    parser.add_argument("--h264-root", type=Path, default=DEFAULT_ROOT, help="where the H.264 pool is cached")
    parser.add_argument(
        "--issue9-share", type=float, default=0.1, help="share of clips by the issue-9 renderer"
    )
    parser.add_argument(
        "--issue9-easy",
        type=float,
        default=1.0,
        help="the issue-9 share at difficulty 0 (falls to --issue9-share)",
    )
    parser.add_argument(
        "--variants",
        type=int,
        default=1,
        help="mirror/transpose variants per drawn clip (2: half the rendering)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="where the model trains: cpu, cuda, cuda:1 …")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes making the next batches (spare cores, a GPU host)"
    )
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--resume", action="store_true", help="continue from runs/<name>/checkpoint.pt")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (a few steps) to check the pipeline")
    parser.add_argument(
        "--evaluate", type=Path, metavar="DIR", help="evaluate a saved model and update its card"
    )
    parser.add_argument("--no-write", action="store_true", help="with --evaluate: measure, leave the card")
    parser.add_argument("--quick", action="store_true", help="with --evaluate: smaller test sets (a pilot)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import models
    from models.demo import evaluate

    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        results = evaluate.evaluate_saved(args.evaluate, quick=args.quick, write=not args.no_write, log=print)
        print(json.dumps(results, indent=2))
        return 0
    torch.manual_seed(args.seed)
    model = models.create_model(args.model)
    spec = model.card.input
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
        device=args.device,
        workers=args.workers,
        explicit_attention=args.device == "cpu",  # the fused kernel is the fast one on a GPU
        runs_dir=args.runs_dir,
        embed_init_scale=args.embed_init_scale,
        aux_weight=args.aux_weight,
        motion_probe=not args.no_motion_probe,
        max_minutes=args.max_minutes,
        init_from=args.init,
        curriculum=Curriculum(start=0.0, ramp=args.curriculum_ramp),
        mix=Mix(
            h264=args.h264_share,
            issue9=args.issue9_share,
            issue9_easy=args.issue9_easy,
            variants=args.variants,
        ),
        h264_items=args.h264_items,
        h264_root=args.h264_root,
    )
    if args.smoke:
        cfg.steps, cfg.batch_size, cfg.warmup, cfg.eval_every, cfg.val_size = 4, 8, 2, 2, 22
        cfg.h264_items = min(cfg.h264_items, 8)
    facts = train(model, spec, cfg, resume=args.resume, progress=not args.no_progress)
    print("accuracy curve (step, minutes, val acc, val reversal):")
    for point in facts["curve"]:
        print(f"  {point[0]:>6}  {point[1]:6.1f}  {point[2]:.3f}  {point[3]:.3f}")
    if args.out is not None:
        evaluate.save_trained(model, Path(args.out), facts)
        print(f"saved {args.out}")
    return 0
