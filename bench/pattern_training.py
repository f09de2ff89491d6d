"""The training comparison: every attention pattern trained on `motion` with one recipe and one budget.

Each model is a registered constructor at the demo models' size (8 frames of 32×32, patch 8, width 96,
4 heads, MLP 384, the 11 `motion` classes, `motion`'s input contract), its depth chosen so its parameter
count is closest to the divided TimeSformer's at depth 3 (what `motion-timesformer` ships). Every model
is trained by `vtserve train-demo`'s own code path (`models.demo.train.run`) with the same flags — same
steps and wall-clock cap, same data, seed and recipe, one torch thread pinned to one core — in parallel
processes, one per core; then measured by `models.demo.evaluate.evaluate_saved` (test top-1, reversal →
partner, within-pair accuracy, H.264 robustness, attention, latency) and stored with fp16 weights in
`<out>/motion-<key>/` (`models/weights/zoo/` when shipped).

The recipe's training probe (`--aux-weight`) reads a cls-token layout that half the lineup does not
have, so the comparison trains without it (`--aux-weight 0`) for every model.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: key → (registered constructor, overrides); the first is the parameter target at `TARGET_DEPTH`.
COMPARISON: dict[str, tuple[str, dict[str, Any]]] = {
    "divided_space_time": ("timesformer_tiny", {}),
    "divided_relpos": ("timesformer_tiny_relpos", {}),
    "joint_space_time": ("timesformer_tiny_joint", {}),
    "space_only": ("timesformer_tiny_space_only", {}),
    "factorised_encoder": ("vivit_fe_tiny", {"temporal_depth": 2}),
    "videomae": ("videomae_tiny", {}),
    "factorised_self_attention": ("factorised_self_attention_tiny", {}),
    "factorised_dot_product": ("factorised_dot_product_tiny", {}),
    "axial": ("axial_tiny", {}),
    "local_global": ("local_global_tiny", {}),
    "strided_sparse": ("strided_sparse_tiny", {}),
    "windowed": ("windowed_tiny", {}),
    "multiscale": ("multiscale_tiny", {}),
}
TARGET_DEPTH = 3
DEPTHS = range(1, 9)
MOTION_SHAPE: dict[str, Any] = {
    "num_frames": 8,
    "image_size": 32,
    "patch_size": 8,
    "embed_dim": 96,
    "num_heads": 4,
    "mlp_dim": 384,
}
MOTION_CARD: dict[str, Any] = {
    "sampling": "uniform",
    "frame_stride": None,
    "mean": (0.45, 0.45, 0.45),
    "std": (0.225, 0.225, 0.225),
    "test_clips": 1,
    "test_crops": 1,
}
Log = Callable[[str], None]


def zoo_name(key: str) -> str:
    return f"motion-{key.replace('_', '-')}"


def build(key: str, depth: int, *, meta: bool = False) -> Any:
    """The comparison model `key` at `depth` (random weights; on the meta device when `meta`)."""
    import torch

    import models
    from models.demo.motion import LABELS

    constructor, overrides = COMPARISON[key]
    card = {**MOTION_CARD, "source": f"bench.patterns comparison: {constructor} at the motion size"}
    with torch.device("meta" if meta else "cpu"):
        return models.create_model(
            constructor, **MOTION_SHAPE, **overrides, depth=depth, labels=list(LABELS), **card
        )


def parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_depth(key: str, target: int) -> int:
    """The depth in `DEPTHS` whose parameter count is closest to `target`."""
    return min(DEPTHS, key=lambda d: abs(parameters(build(key, d, meta=True)) - target))


def plan(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per model: zoo name, constructor, depth, parameters, GFLOPs per clip (counted on one clip)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    target = parameters(build("divided_space_time", TARGET_DEPTH, meta=True))
    rows = {}
    for key in keys:
        depth = matched_depth(key, target)
        model = build(key, depth).eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 8, 3, 32, 32))
        count = parameters(model)
        rows[key] = {
            "name": zoo_name(key),
            "constructor": COMPARISON[key][0],
            "attention": model.card.attention,
            "depth": depth,
            "parameters": count,
            "parameters_vs_target": round(count / target, 3),
            "gflops_per_clip": round(counter.get_total_flops() / 1e9, 4),
            "fp16_mb": round(2 * count / 2**20, 2),
        }
    return rows


# --- one model, in a child process ---------------------------------------------------------------
def train_one(
    key: str, depth: int, out: Path, train_flags: list[str], *, evaluate: bool, quick: bool
) -> dict[str, Any]:
    """Register `motion-<key>`, train it with `train-demo`'s code path, evaluate it, store fp16 weights."""
    import argparse

    from models.demo import evaluate as demo_evaluate
    from models.demo import train as demo_train
    from models.registry import register_model

    name = zoo_name(key)
    register_model(lambda **o: build(key, depth), name=name)
    parser = argparse.ArgumentParser()
    demo_train.add_arguments(parser)
    args = parser.parse_args(
        ["--model", name, "--out", str(out), "--threads", "1", "--no-progress", *train_flags]
    )
    demo_train.run(args)
    results = demo_evaluate.evaluate_saved(out, quick=quick) if evaluate else None
    half_weights(out)
    return {"key": key, "name": name, "depth": depth, "results": results}


def half_weights(folder: Path) -> None:
    """Store a saved model's floating-point tensors as fp16 (loading casts them back to float32)."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(path).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


# --- the comparison, in the parent ----------------------------------------------------------------
def _start(
    key: str, row: dict[str, Any], core: int, out_dir: Path, flags: list[str]
) -> subprocess.Popen[bytes]:
    """`python -m bench.patterns _train ...` for one model, its output in `<out_dir>/<name>.log`."""
    command = [
        sys.executable, "-m", "bench.patterns", "_train", "--key", key, "--depth", str(row["depth"]),
        "--out", str(out_dir / row["name"]), "--cpu", str(core), *flags,
    ]  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / f"{row['name']}.log").open("wb") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def _result(row: dict[str, Any], out_dir: Path, returncode: int) -> dict[str, Any]:
    text = (out_dir / f"{row['name']}.log").read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith('{"key"')]
    if returncode == 0 and lines:
        return dict(json.loads(lines[-1]))
    return {"error": f"exit {returncode}: {text[-500:]}"}


def run_comparison(
    rows: dict[str, dict[str, Any]], out_dir: Path, flags: list[str], *, jobs: int, log: Log
) -> dict[str, Any]:
    """Train every planned model, `jobs` at a time, each child pinned to its own core.

    `flags`: the `_train` child's options (`--no-eval`, `--quick`) then `--` and `train-demo`'s flags.
    """
    cores = sorted(os.sched_getaffinity(0))[: max(1, jobs)]
    pending = list(rows)
    running: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
    results: dict[str, Any] = {}
    while pending or running:
        for core in cores:
            if core not in running and pending:
                key = pending.pop(0)
                log(f"training {key} on core {core}")
                running[core] = (key, _start(key, rows[key], core, out_dir, flags))
        for core, (key, proc) in list(running.items()):
            if proc.poll() is not None:
                del running[core]
                results[key] = _result(rows[key], out_dir, proc.returncode)
                log(f"  {key}: {'failed' if 'error' in results[key] else 'done'}")
        time.sleep(0.5)
    return results


def estimate_hours(n: int, jobs: int, max_minutes: float | None) -> float | None:
    return None if max_minutes is None else round(math.ceil(n / jobs) * max_minutes / 60, 2)
