"""Attention patterns side by side: the cost-scaling study and the training comparison.

    python -m bench.patterns                        # scaling study -> bench/results/patterns.{json,png}
    python -m bench.patterns scaling --frames 8,16,32 --patterns windowed,joint_space_time --budget-min 3
    python -m bench.patterns train --dry-run        # the comparison's lineup: depths, parameters, GFLOPs
    python -m bench.patterns train --steps 6000 --max-minutes 40      # every model, one core each (hours)
    python -m bench.patterns train --smoke --patterns windowed        # the whole pipeline in a minute

Scaling (`bench.pattern_scaling`): ViT-B width, 224 px, batch 1, depth 2 (`--depth`), frame-level
tokens; analytic FLOPs (`bench.pattern_flops`) for every frame count, CPU latency and peak memory where
measured, one process per pattern, one torch thread (`--threads`). Training (`bench.pattern_training`):
see that module. Both write their section of `--results` and leave the other as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import pattern_scaling as scaling
from bench import pattern_training as training

LOG = partial(print, flush=True)
RESULTS = Path(__file__).resolve().parent / "results" / "patterns.json"
TINY_SHAPE: dict[str, Any] = {
    "image_size": 32,
    "patch_size": 8,
    "embed_dim": 48,
    "num_heads": 4,
    "mlp_dim": 96,
    "num_classes": 5,
}


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _update_results(path: Path, section: str, value: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[section] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- scaling ------------------------------------------------------------------------------------------
def _pattern_entry(
    pattern: str, frames: list[int], measured: list[dict[str, Any]], shape: dict[str, Any]
) -> dict[str, Any]:
    """Analytic cost at every frame count, merged with what the child measured."""
    by_frames = {m["frames"]: m for m in measured if "frames" in m}
    steps = []
    options: dict[str, Any] = {}
    for t in frames:
        cost, options = scaling.analytic(pattern, t, **shape)
        row = {
            "frames": t,
            "gflops": round(cost.gflops, 2),
            "gflops_visible_keys": round(cost.gflops_sparse, 2),
            "attention_share": round(cost.attention_share, 4),
        }
        row.update({k: v for k, v in by_frames.get(t, {"skipped": "not reached"}).items() if k != "frames"})
        steps.append(row)
    return {
        "model": scaling.LINEUP[pattern][0],
        "options": options,
        "steps": steps,
        "errors": [m["error"] for m in measured if "error" in m],
        "growth": scaling.growth(steps),
        "attention_dominates_from_frames": scaling.quadratic_takes_over(pattern, shape),
        "attention_dominates_from_frames_visible_keys": scaling.quadratic_takes_over(
            pattern, shape, sparse=True
        ),
    }


def run_scaling(args: argparse.Namespace) -> int:
    from bench.environment import describe_environment

    frames = [int(f) for f in _csv(args.frames)]
    patterns = _csv(args.patterns) if args.patterns else list(scaling.LINEUP)
    shape = {**(TINY_SHAPE if args.tiny else {}), "depth": args.depth}
    limits = {"max_step_s": args.max_step_s, "max_memory_gb": args.max_memory_gb}
    start = time.time()
    result: dict[str, Any] = {
        "command": "python -m bench.patterns " + " ".join(sys.argv[1:]),
        "environment": describe_environment(),
        "setup": {
            "shape": "tiny" if args.tiny else "ViT-B/16: width 768, 12 heads, MLP 3072, 224 px",
            "depth": args.depth,
            "batch": 1,
            "tubelet": 1,
            "dtype": "float32",
            "threads": args.threads,
            "attention_outputs": False,
            "frames": frames,
            "budget_min": args.budget_min,
            **limits,
        },
        "patterns": {},
    }
    for i, pattern in enumerate(patterns):
        share = (start + 60 * args.budget_min - time.time()) / (len(patterns) - i)
        measured = scaling.run_pattern_child(
            pattern, frames, limits, time.time() + max(0.0, share), tiny=args.tiny, threads=args.threads
        )
        entry = _pattern_entry(pattern, frames, measured, shape)
        result["patterns"][pattern] = entry
        for step in entry["steps"]:
            note = (
                f"{step['latency_s']:8.3f} s {step['peak_rss_mb']:8.0f} MB"
                if "latency_s" in step
                else step["skipped"]
            )
            LOG(f"{pattern:26s} T={step['frames']:4d} {step['gflops']:9.1f} GFLOP  {note}")
    result["wall_minutes"] = round((time.time() - start) / 60, 2)
    _update_results(Path(args.results), "scaling", result)
    scaling.plot(result, Path(args.plot))
    LOG(f"wrote {args.results} and {args.plot} ({result['wall_minutes']} min)")
    return 0


def run_measure_child(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    shape = {**(TINY_SHAPE if args.tiny else {}), "depth": args.depth}
    limits = {"max_step_s": args.max_step_s, "max_memory_gb": args.max_memory_gb}
    frames = [int(f) for f in _csv(args.frames)]
    for record in scaling.measure_pattern(
        args.pattern, frames, deadline=args.deadline, shape=shape, **limits
    ):
        print(json.dumps(record), flush=True)
    return 0


# --- training -----------------------------------------------------------------------------------------
def _train_flags(args: argparse.Namespace) -> list[str]:
    """The `_train` child's options, `--`, then `train-demo`'s flags: the same for every model."""
    flags = [*(["--no-eval"] if args.no_eval else []), *(["--quick"] if args.smoke else []), "--"]
    flags += ["--seed", str(args.seed), "--aux-weight", "0", "--runs-dir", str(Path(args.out_dir) / "runs")]
    if args.h264_root:
        flags += ["--h264-root", str(args.h264_root)]
    if args.smoke:
        return [*flags, "--smoke"]
    return [*flags, "--steps", str(args.steps), "--max-minutes", str(args.max_minutes)]


def run_training(args: argparse.Namespace) -> int:
    keys = _csv(args.patterns) if args.patterns else list(training.COMPARISON)
    rows = training.plan(keys)
    budget = {
        "steps": args.steps, "max_minutes": args.max_minutes, "seed": args.seed, "jobs": args.jobs,
        "threads_per_model": 1, "aux_weight": 0.0,
    }  # fmt: skip
    for key, row in rows.items():
        params, ratio, gflop = row["parameters"], row["parameters_vs_target"], row["gflops_per_clip"]
        LOG(f"{key:26s} depth {row['depth']}  {params:>9,d} params ({ratio:.2f}x)  {gflop:.3f} GFLOP")
    hours = training.estimate_hours(len(rows), args.jobs, args.max_minutes)
    zoo_mb = sum(r["fp16_mb"] for r in rows.values())
    LOG(f"budget: {budget}; about {hours} h of wall time on {args.jobs} cores; zoo fp16 {zoo_mb:.1f} MB")
    section: dict[str, Any] = {"status": "planned", "budget": budget, "models": rows}
    if not args.dry_run:
        results = training.run_comparison(
            rows, Path(args.out_dir), _train_flags(args), jobs=args.jobs, log=LOG
        )
        section = {**section, "status": "smoke" if args.smoke else "trained", "results": results}
    _update_results(Path(args.results), "training", section)
    LOG(f"wrote the training section of {args.results}")
    return 0


def run_train_child(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {args.cpu})
    result = training.train_one(
        args.key, args.depth, Path(args.out), args.train_flags, evaluate=not args.no_eval, quick=args.quick
    )
    print(json.dumps(result), flush=True)
    return 0


# --- command line -------------------------------------------------------------------------------------
def _scaling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--frames", default=",".join(map(str, scaling.DEFAULT_FRAMES)), help="frame counts, ascending"
    )
    p.add_argument("--depth", type=int, default=2, help="blocks per model (per branch for multiscale)")
    p.add_argument("--max-step-s", type=float, default=60.0, help="stop a pattern after a step this slow")
    p.add_argument("--max-memory-gb", type=float, default=16.0, help="stop a pattern after a step this big")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each measuring process")
    p.add_argument("--tiny", action="store_true", help="32 px, width 48 (tests of the harness)")


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patterns", help=f"comma-separated, of {', '.join(training.COMPARISON)}")
    p.add_argument("--dry-run", action="store_true", help="plan only: depths, parameters, GFLOPs")
    p.add_argument("--steps", type=int, default=6000, help="optimiser steps, the same for every model")
    p.add_argument("--max-minutes", type=float, default=40.0, help="wall-clock cap, the same for every model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs", type=int, default=len(os.sched_getaffinity(0)), help="models at once, a core each"
    )
    p.add_argument("--smoke", action="store_true", help="train-demo --smoke for each model, quick evaluation")
    p.add_argument("--no-eval", action="store_true", help="train and save only")
    p.add_argument("--out-dir", default="runs/patterns-zoo")
    p.add_argument("--h264-root", help="train-demo's H.264 pool cache (its default when not given)")
    p.add_argument("--results", default=str(RESULTS))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench.patterns", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True)
    scale = sub.add_parser("scaling", help="the cost-scaling study (the default)")
    _scaling_arguments(scale)
    scale.add_argument("--patterns", help=f"comma-separated, of {', '.join(scaling.LINEUP)}")
    scale.add_argument("--budget-min", type=float, default=9.0, help="wall-clock budget of the whole study")
    scale.add_argument("--results", default=str(RESULTS))
    scale.add_argument("--plot", default=str(RESULTS.with_suffix(".png")))
    child = sub.add_parser("_measure", help=argparse.SUPPRESS)
    _scaling_arguments(child)
    child.add_argument("--pattern", required=True, choices=list(scaling.LINEUP))
    child.add_argument("--deadline", type=float, required=True)
    _train_arguments(sub.add_parser("train", help="the training comparison on motion"))
    one = sub.add_parser("_train", help=argparse.SUPPRESS)
    one.add_argument("--key", required=True, choices=list(training.COMPARISON))
    one.add_argument("--depth", type=int, required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--cpu", type=int, required=True)
    one.add_argument("--no-eval", action="store_true")
    one.add_argument("--quick", action="store_true")
    one.add_argument("train_flags", nargs=argparse.REMAINDER, help="after --: train-demo's flags")
    return root


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0].startswith("-"):
        args_list = ["scaling", *args_list]
    args = parser().parse_args(args_list)
    if args.command == "_train":
        args.train_flags = [f for f in args.train_flags if f != "--"]
    runners = {
        "scaling": run_scaling,
        "_measure": run_measure_child,
        "train": run_training,
        "_train": run_train_child,
    }
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
