"""Attention patterns side by side: the cost-scaling study and the training comparison.

    python -m bench.patterns                        # scaling study -> bench/results/patterns.{json,png}
    python -m bench.patterns scaling --frames 8,16,32 --patterns windowed,joint_space_time --budget-min 3
    python -m bench.patterns train --dry-run        # the comparison's lineup: depths, parameters, GFLOPs
    python -m bench.patterns train --steps 6000 --max-minutes 12      # published run: 17 models, 2 h
    python -m bench.patterns train --smoke --patterns windowed --out-dir /tmp/zoo-smoke   # the pipeline
    python -m bench.patterns table --plot bench/results/patterns-comparison.png   # README table + plot
    python -m bench.patterns reevaluate             # the shipped zoo's top-1 again, within 1 point

Scaling (`bench.pattern_scaling`): ViT-B width, 224 px, batch 1, depth 2 (`--depth`), frame-level
tokens; analytic FLOPs (`bench.pattern_flops`) for every frame count, CPU latency and peak memory where
measured, one process per pattern, one torch thread (`--threads`). Training (`bench.pattern_training`):
see that module; it measures every model, ships the zoo (`bench.pattern_zoo`, `models/weights/zoo/`) and
writes the table (`bench.pattern_table`) beside `--results` as markdown. Both write their section of
`--results` and leave the other as it is; a dry run never replaces a measured training section, and a
smoke run never writes the default results file or the shipped zoo.
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

from bench import pattern_plot
from bench import pattern_scaling as scaling
from bench import pattern_table as table
from bench import pattern_training as training
from bench import pattern_zoo as zoo
from bench.environment import REPO_ROOT

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
    flags = [*(["--no-eval"] if args.no_eval else []), *(["--quick"] if args.quick_eval else [])]
    flags += ["--eval-cache", str(args.eval_cache), "--"]
    flags += ["--seed", str(args.seed), "--aux-weight", "0", "--runs-dir", str(Path(args.out_dir) / "runs")]
    if args.h264_root:
        flags += ["--h264-root", str(args.h264_root)]
    if args.smoke:
        return [*flags, "--smoke"]
    return [*flags, "--steps", str(args.steps), "--max-minutes", str(args.max_minutes)]


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """Where the training section and the zoo go: a smoke run never writes the published ones."""
    results, zoo_dir = Path(args.results), Path(args.zoo_dir) if args.zoo_dir else zoo.ZOO_DIR
    if args.smoke:
        out_dir = Path(args.out_dir)
        results = out_dir / "patterns.json" if results.resolve() == RESULTS else results
        zoo_dir = out_dir / "zoo" if zoo_dir.resolve() == zoo.ZOO_DIR else zoo_dir
    return results, zoo_dir


def _repo_relative(path: Path) -> str:
    """`path` relative to the checkout when inside it (the results file is committed), else absolute."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)


def comparison_plot(results: Path) -> Path:
    """Where the training comparison's plot goes beside its results file (`patterns-comparison.png`)."""
    return results.with_name(f"{results.stem}-comparison.png")


def _measured(path: Path) -> bool:
    data = json.loads(path.read_text()) if path.is_file() else {}
    return data.get("training", {}).get("status") not in (None, "planned")


def _train_and_ship(
    args: argparse.Namespace, rows: dict[str, Any], section: dict[str, Any], zoo_dir: Path
) -> dict[str, Any]:
    """Train and measure every model, then ship those measured into `zoo_dir` (unless `--no-ship`)."""
    out_dir, start = Path(args.out_dir), time.time()
    if not args.no_eval:
        training.prepare_eval_sets(Path(args.eval_cache), quick=args.quick_eval, log=LOG)
    results = training.run_comparison(rows, out_dir, _train_flags(args), jobs=args.jobs, log=LOG)
    section = {**section, "status": "smoke" if args.smoke else "trained", "results": results}
    section["table"] = table.table_rows(section)
    section["wall_minutes"] = round((time.time() - start) / 60, 2)
    done = [out_dir / rows[k]["name"] for k, r in results.items() if "error" not in r and r.get("results")]
    if done and not args.no_ship:
        mb = zoo.ship(done, zoo_dir)
        where = _repo_relative(zoo_dir)
        section["zoo"] = {"dir": where, "models": len(done), "mb": mb, "max_mb": zoo.MAX_ZOO_MB}
        LOG(f"shipped {len(done)} models into {zoo_dir} ({mb} MB of {zoo.MAX_ZOO_MB:g})")
    return section


def run_training(args: argparse.Namespace) -> int:
    keys = _csv(args.patterns) if args.patterns else list(training.COMPARISON)
    results_path, zoo_dir = _outputs(args)
    rows = training.plan(keys)
    budget = {
        "steps": 4 if args.smoke else args.steps, "max_minutes": None if args.smoke else args.max_minutes,
        "seed": args.seed, "jobs": args.jobs, "threads_per_model": 1, "aux_weight": 0.0,
        "evaluation": "quick" if args.quick_eval else "full",
    }  # fmt: skip
    for key, row in rows.items():
        params, ratio, gflop = row["parameters"], row["parameters_vs_target"], row["gflops_per_clip"]
        LOG(f"{key:26s} depth {row['depth']}  {params:>9,d} params ({ratio:.2f}x)  {gflop:.3f} GFLOP")
    minutes = training.estimate_minutes(len(rows), args.jobs, None if args.smoke else args.max_minutes)
    zoo_mb = sum(r["fp16_mb"] for r in rows.values())
    LOG(f"budget: {budget}; about {minutes} min of wall time on {args.jobs} cores; zoo fp16 {zoo_mb:.1f} MB")
    section: dict[str, Any] = {
        "status": "planned", "command": "python -m bench.patterns " + " ".join(sys.argv[1:]),
        "budget": budget, "recipe": training.RECIPE, "models": rows,
    }  # fmt: skip
    if args.dry_run and _measured(results_path):
        LOG(f"dry run: {results_path} holds a measured training section; left as it is")
        return 0
    failed: list[str] = []
    if not args.dry_run:
        section = _train_and_ship(args, rows, section, zoo_dir)
        failed = [k for k, r in section["results"].items() if "error" in r]
        section = _merged(results_path, section)
        results_path.with_suffix(".md").write_text(table.markdown(section))
        LOG(table.markdown(section))
        if pattern_plot.measured_rows(section):
            pattern_plot.plot(section, comparison_plot(results_path))
    _update_results(results_path, "training", section)
    LOG(f"wrote the training section of {results_path}")
    if failed:
        LOG(f"failed: {', '.join(failed)} (see {args.out_dir}/<name>.log)")
    return 1 if failed else 0


def _merged(path: Path, section: dict[str, Any]) -> dict[str, Any]:
    """`section` over the recorded one when both ran under the same budget (a rerun of some models keeps
    the others' rows); otherwise `section` alone."""
    old = (json.loads(path.read_text()) if path.is_file() else {}).get("training", {})

    def budget(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.get("budget", {}).items() if k != "jobs"}

    if old.get("status") != section["status"] or budget(old) != budget(section):
        return section
    parts = {part: {**old.get(part, {}), **section.get(part, {})} for part in ("models", "results", "table")}
    return {**section, **parts}


def run_train_child(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {args.cpu})
    result = training.train_one(
        args.key,
        args.depth,
        Path(args.out),
        args.train_flags,
        evaluate=not args.no_eval,
        quick=args.quick,
        cache_dir=Path(args.eval_cache),
    )
    print(json.dumps(result), flush=True)
    return 0


def run_table(args: argparse.Namespace) -> int:
    section = json.loads(Path(args.results).read_text())["training"]
    text = table.markdown(section)
    if args.out:
        Path(args.out).write_text(text)
    if args.plot:
        pattern_plot.plot(section, Path(args.plot))
    print(text, end="")
    return 0


def run_reevaluate(args: argparse.Namespace) -> int:
    """Every shipped zoo model's test top-1 again; fails when one moved by more than a point, when a
    published model is not in the zoo, or when the zoo is over its size budget."""
    zoo_dir = Path(args.zoo_dir) if args.zoo_dir else zoo.ZOO_DIR
    data = json.loads(Path(args.results).read_text()) if Path(args.results).is_file() else {}
    published = {r["name"]: r["top1"] for r in data.get("training", {}).get("table", {}).values()}
    folders = zoo.zoo_folders(zoo_dir)
    rows = zoo.reevaluate(folders, {k: v for k, v in published.items() if v is not None}, log=LOG)
    missing = sorted(set(published) - {f.name for f in folders})
    size = zoo.zoo_mb(zoo_dir)
    LOG(f"{len(rows)} models, zoo {size:.1f} MB (budget {zoo.MAX_ZOO_MB:g} MB); missing: {missing or 'none'}")
    ok = bool(rows) and all(r["ok"] for r in rows) and not missing and size <= zoo.MAX_ZOO_MB
    return 0 if ok else 1


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
    p.add_argument("--max-minutes", type=float, default=3.0, help="wall-clock cap, the same for every model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs", type=int, default=len(os.sched_getaffinity(0)), help="models at once, a core each"
    )
    p.add_argument("--smoke", action="store_true", help="train-demo --smoke for each model, quick evaluation")
    p.add_argument("--quick-eval", action="store_true", help="the evaluation's smaller test sets")
    p.add_argument("--no-eval", action="store_true", help="train and save only (nothing is shipped)")
    p.add_argument("--no-ship", action="store_true", help="leave the zoo as it is")
    p.add_argument("--out-dir", default="runs/patterns-zoo")
    p.add_argument("--zoo-dir", help=f"where the measured models are shipped (default {zoo.ZOO_DIR})")
    p.add_argument("--eval-cache", default=str(training.EVAL_CACHE), help="the evaluation's cached test sets")
    p.add_argument("--h264-root", help="train-demo's H.264 pool cache (its default when not given)")
    p.add_argument("--results", default=str(RESULTS))


def _child_parsers(sub: Any) -> None:
    child = sub.add_parser("_measure", help=argparse.SUPPRESS)
    _scaling_arguments(child)
    child.add_argument("--pattern", required=True, choices=list(scaling.LINEUP))
    child.add_argument("--deadline", type=float, required=True)
    one = sub.add_parser("_train", help=argparse.SUPPRESS)
    one.add_argument("--key", required=True, choices=list(training.COMPARISON))
    one.add_argument("--depth", type=int, required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--cpu", type=int, required=True)
    one.add_argument("--no-eval", action="store_true")
    one.add_argument("--quick", action="store_true")
    one.add_argument("--eval-cache", default=str(training.EVAL_CACHE))
    one.add_argument("train_flags", nargs=argparse.REMAINDER, help="after --: train-demo's flags")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench.patterns", description=__doc__.split("\n\n")[0])
    sub = root.add_subparsers(dest="command", required=True)
    scale = sub.add_parser("scaling", help="the cost-scaling study (the default)")
    _scaling_arguments(scale)
    scale.add_argument("--patterns", help=f"comma-separated, of {', '.join(scaling.LINEUP)}")
    scale.add_argument("--budget-min", type=float, default=9.0, help="wall-clock budget of the whole study")
    scale.add_argument("--results", default=str(RESULTS))
    scale.add_argument("--plot", default=str(RESULTS.with_suffix(".png")))
    _train_arguments(sub.add_parser("train", help="the training comparison on motion"))
    show = sub.add_parser("table", help="the training comparison as a markdown table")
    show.add_argument("--results", default=str(RESULTS))
    show.add_argument("--out", help="also write it to this file")
    show.add_argument("--plot", help=f"also draw the comparison here (e.g. {comparison_plot(RESULTS)})")
    again = sub.add_parser("reevaluate", help="re-measure the shipped zoo's top-1 against the recorded one")
    again.add_argument("--results", default=str(RESULTS))
    again.add_argument("--zoo-dir", help=f"default {zoo.ZOO_DIR}")
    _child_parsers(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0].startswith("-"):
        args_list = ["scaling", *args_list]
    args = parser().parse_args(args_list)
    if args.command == "_train":
        args.train_flags = [f for f in args.train_flags if f != "--"]
    if args.command == "train" and args.smoke:
        args.quick_eval = True
    runners = {
        "scaling": run_scaling,
        "_measure": run_measure_child,
        "train": run_training,
        "_train": run_train_child,
        "table": run_table,
        "reevaluate": run_reevaluate,
    }
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
