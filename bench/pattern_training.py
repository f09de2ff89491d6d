"""The training comparison: every attention pattern trained on `motion` with one recipe and one budget.

Each model is a registered constructor at `motion-vivit`'s input size (8 frames of 64×64, patch 16 — the
4×4 token grid of both shipped demo models; `motion-timesformer` reads 32×32 with patch 8), width 96, 4
heads, MLP 384, the 11 `motion` classes and `motion`'s input policy (`models.demo.configs.MOTION_POLICY`),
its depth chosen so its parameter count is closest to the divided TimeSformer's at depth 3 (the depth of
`motion-timesformer`). Issue 16's models keep their structure at that size:

- Video Swin: stages of widths 24-48-96 (heads 1-2-4, MLP ratio 4: the last stage at the comparison's
  width), patch merging twice from 4×4-px cells, window 2×4×4; the matched depth is the last stage's
  (`depths=(2, 2, d)`);
- MTV: three views on tubelets of 4, 2 and 1 frames (widths 16/32/64, heads 1/2/4), a one-layer global
  encoder; the matched depth is every view's;
- V-JEPA 2: RoPE joint attention on 2×16×16 tubelets, an attentive pooler with one self-attention layer;
- VideoPrism: `d` spatial layers then one temporal layer, soft-capped attention, attention pooling.

Every model is trained by `vtserve train-demo`'s own code path (`models.demo.train.run`) with the same
flags — same steps and wall-clock cap, same data, seed and recipe, one torch thread pinned to one core —
in parallel processes, one per core; its weights are then stored as fp16 in `<out>/motion-<key>/`, and
the fp16 weights (upcast when loaded) are what is measured (`models.demo.evaluate.evaluate_model`: test
top-1, reversal → partner, within-pair accuracy, H.264 robustness, attention, torch latency) and timed in
onnxruntime (`bench.pattern_costs`), so the numbers recorded in the card are the shipped checkpoint's.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


def _depth(depth: int) -> dict[str, Any]:
    return {"depth": depth}


def _last_stage(depth: int) -> dict[str, Any]:
    return {"depths": (2, 2, depth)}


@dataclass(frozen=True)
class Entry:
    """A comparison model: its registered constructor, what it changes at the motion size, and which
    config field(s) the parameter matching varies (`depth_as(d)`)."""

    constructor: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    depth_as: Callable[[int], dict[str, Any]] = _depth


#: key → its entry; the first is the parameter target at `TARGET_DEPTH`.
COMPARISON: dict[str, Entry] = {
    "divided_space_time": Entry("timesformer_tiny"),
    "divided_relpos": Entry("timesformer_tiny_relpos"),
    "joint_space_time": Entry("timesformer_tiny_joint"),
    "space_only": Entry("timesformer_tiny_space_only"),
    "factorised_encoder": Entry("vivit_fe_tiny", {"temporal_depth": 2}),
    "videomae": Entry("videomae_tiny"),
    "factorised_self_attention": Entry("factorised_self_attention_tiny"),
    "factorised_dot_product": Entry("factorised_dot_product_tiny"),
    "axial": Entry("axial_tiny"),
    "local_global": Entry("local_global_tiny"),
    "strided_sparse": Entry("strided_sparse_tiny"),
    "windowed": Entry("windowed_tiny"),
    "multiscale": Entry("multiscale_tiny"),
    "shifted_windows": Entry(
        "video_swin_tiny",
        {"embed_dim": 24, "num_heads": 1, "mlp_dim": 96, "window_size": (2, 4, 4)},
        _last_stage,
    ),
    "multiview": Entry("mtv_tiny", {"embed_dim": 64, "mlp_dim": 256, "tubelet_size": 4, "global_depth": 1}),
    "vjepa2": Entry("vjepa2_tiny", {"pooler_depth": 1}),
    "videoprism": Entry("videoprism_tiny", {"temporal_depth": 1}),
}
TARGET_DEPTH = 3
DEPTHS = range(1, 9)
MOTION_SHAPE: dict[str, Any] = {
    "num_frames": 8,
    "image_size": 64,
    "patch_size": 16,
    "embed_dim": 96,
    "num_heads": 4,
    "mlp_dim": 384,
}
RECIPE = (
    "vtserve train-demo's defaults (models.demo.train): batch 32, AdamW lr 1.5e-3, weight decay 0.05, "
    "warm-up 200 steps then a cosine over the budget, label smoothing 0.1; the v2 generator with 25% "
    "H.264 pool clips and the issue-9 renderer's share, curriculum over half the run; DCT time/position "
    "embeddings where the model has them; the training probe off (--aux-weight 0)"
)
#: Per model, beyond the training budget: start, H.264 pool load, full evaluation (~45-60 CPU s), two
#: exports (9-18 CPU s), onnxruntime timing (~8 s); about 0.8 min with `--quick-eval`.
OVERHEAD_MINUTES = 1.5
EVAL_CACHE = Path("runs/eval-cache")  # train-demo's: the costly test sets are built once per machine
Log = Callable[[str], None]


def zoo_name(key: str) -> str:
    return f"motion-{key.replace('_', '-')}"


def config_overrides(key: str, depth: int) -> dict[str, Any]:
    """What `key` at `depth` changes over its constructor: the motion shape, its entry, its depth."""
    entry = COMPARISON[key]
    return {**MOTION_SHAPE, **entry.overrides, **entry.depth_as(depth)}


def build(key: str, depth: int, *, meta: bool = False) -> Any:
    """The comparison model `key` at `depth` (random weights; on the meta device when `meta`)."""
    import torch

    import models
    from models.demo.configs import MOTION_POLICY
    from models.demo.motion import LABELS

    constructor = COMPARISON[key].constructor
    source = f"bench.patterns comparison: {constructor} at the motion size"
    card = {**MOTION_POLICY, "resize_short_side": None, "source": source}
    with torch.device("meta" if meta else "cpu"):
        model = models.create_model(constructor, **config_overrides(key, depth), labels=list(LABELS), **card)
    model.card = replace(model.card, name=zoo_name(key))  # the bundle's and the served model's name
    return model


def parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_depth(key: str, target: int) -> int:
    """The depth in `DEPTHS` whose parameter count is closest to `target`."""
    return min(DEPTHS, key=lambda d: abs(parameters(build(key, d, meta=True)) - target))


def clip_gflops(model: Any) -> float:
    """GFLOPs of one forward pass on one clip (torch's FLOP counter: 2 per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    c = model.card.input
    counter = FlopCounterMode(display=False)
    with counter:  # with autograd on: the counter's module hooks fail on V-JEPA 2's pooler under no_grad
        model(torch.zeros(1, c.num_frames, 3, c.image_size, c.image_size))
    return round(counter.get_total_flops() / 1e9, 4)


def plan(keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per model: zoo name, constructor, depth, parameters, GFLOPs per clip (counted on one clip)."""
    target = parameters(build("divided_space_time", TARGET_DEPTH, meta=True))
    rows = {}
    for key in keys:
        depth = matched_depth(key, target)
        model = build(key, depth).eval()
        count = parameters(model)
        changed = {**COMPARISON[key].overrides, **COMPARISON[key].depth_as(depth)}
        rows[key] = {
            "name": zoo_name(key),
            "constructor": COMPARISON[key].constructor,
            "attention": model.card.attention,
            "depth": depth,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()},
            "parameters": count,
            "parameters_vs_target": round(count / target, 3),
            "gflops_per_clip": clip_gflops(model),
            "fp16_mb": round(2 * count / 2**20, 2),
        }
    return rows


# --- one model, in a child process ---------------------------------------------------------------
def with_probe_blocks(model: Any) -> Any:
    """`model`, with an unregistered `blocks` alias to its last blocks when it has no `blocks` list.

    `train-demo` builds its probe (`models.demo.recipe.AuxHead`, hooked on `model.blocks[-1]`) even at
    `--aux-weight 0`; Video Swin keeps its blocks in stages and MTV in views plus a global encoder. The
    alias is not a submodule: the state dict, the optimiser's groups and the saved model are unchanged.
    """
    from torch import nn

    if isinstance(getattr(model, "blocks", None), nn.ModuleList):
        return model
    lists = [
        module
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in ("blocks", "global_blocks")
    ]
    object.__setattr__(model, "blocks", lists[-1])
    return model


def train_one(
    key: str, depth: int, out: Path, train_flags: list[str], *, evaluate: bool, quick: bool, cache_dir: Path
) -> dict[str, Any]:
    """Register the comparison model `key`, train it as `train-demo` does, store fp16 weights, measure it."""
    import argparse

    from models.demo import train as demo_train
    from models.registry import register_model

    name = zoo_name(key)
    # a name of its own: `motion-space-only` (the zoo name) is also the demo's registered ablation
    constructor = f"comparison-{key}"
    register_model(lambda **o: with_probe_blocks(build(key, depth)), name=constructor)
    parser = argparse.ArgumentParser()
    demo_train.add_arguments(parser)
    args = parser.parse_args(
        ["--model", constructor, "--out", str(out), "--threads", "1", "--no-progress", *train_flags]
    )
    demo_train.run(args)
    half_weights(out)
    facts = json.loads((out / "card.json").read_text())["extra"]["training"]
    results = measure_saved(out, quick=quick, cache_dir=cache_dir) if evaluate else None
    training = {k: facts[k] for k in ("steps", "clips_seen", "train_minutes", "val")}
    return {"key": key, "name": name, "depth": depth, "training": training, "results": results}


def measure_saved(folder: Path, *, quick: bool, cache_dir: Path | None) -> dict[str, Any]:
    """Measure the saved (fp16) model as `evaluate_saved` does, time it in onnxruntime, and record both in
    its card (`card.extra["results"]`, `card.json`), keeping the weights fp16."""
    import models
    from bench.pattern_costs import runtime_costs
    from models.demo import evaluate as demo_evaluate

    model = models.load_pretrained(str(folder))
    start, cpu = time.perf_counter(), time.process_time()
    temporal = model.card.attention != "space_only"
    results = demo_evaluate.evaluate_model(
        model, quick=quick, attention=temporal, cache_dir=cache_dir, log=lambda line: print(line, flush=True)
    )
    results["evaluation"] = {
        "quick": quick,
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    results["onnxruntime"] = runtime_costs(model)
    demo_evaluate.with_extra(model, results=results)
    models.save_pretrained(model, folder)
    (folder / "card.json").write_text(model.card.to_json() + "\n")
    half_weights(folder)
    return results


def half_weights(folder: Path) -> None:
    """Store a saved model's floating-point tensors as fp16 (loading casts them back to float32)."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(path).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


# --- the comparison, in the parent ----------------------------------------------------------------
def prepare_eval_sets(cache_dir: Path, *, quick: bool, log: Log) -> None:
    """Build the cached test sets once, before the children evaluate (two writing one cache file race)."""
    from models.demo import evaluate as demo_evaluate

    contract = build("divided_space_time", TARGET_DEPTH, meta=True).card.input
    start = time.perf_counter()
    demo_evaluate.renderer_b_set(110 if quick else 440, contract, cache_dir=cache_dir)
    demo_evaluate.h264_v2_set(44 if quick else 220, contract, cache_dir=cache_dir)
    demo_evaluate.encoded_inputs(
        per_format=11 if quick else 44,
        num_frames=contract.num_frames,
        image_size=contract.image_size,
        cache_dir=cache_dir,
    )
    log(f"test sets ready in {cache_dir} ({time.perf_counter() - start:.0f} s)")


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

    `flags`: the `_train` child's options (`--no-eval`, `--quick`, `--eval-cache`) then `--` and
    `train-demo`'s flags.
    """
    cores = sorted(os.sched_getaffinity(0))[: max(1, jobs)]
    pending = list(rows)
    running: dict[int, tuple[str, subprocess.Popen[bytes], float]] = {}
    results: dict[str, Any] = {}
    while pending or running:
        for core in cores:
            if core not in running and pending:
                key = pending.pop(0)
                log(f"training {key} on core {core}")
                running[core] = (key, _start(key, rows[key], core, out_dir, flags), time.perf_counter())
        for core, (key, proc, started) in list(running.items()):
            if proc.poll() is not None:
                del running[core]
                results[key] = _result(rows[key], out_dir, proc.returncode)
                results[key]["wall_minutes"] = round((time.perf_counter() - started) / 60, 2)
                log(f"  {key}: {'failed' if 'error' in results[key] else 'done'}")
        time.sleep(0.5)
    return results


def estimate_minutes(n: int, jobs: int, max_minutes: float | None) -> float | None:
    """Wall minutes for `n` models on `jobs` cores when each trains for `max_minutes`."""
    return None if max_minutes is None else round(math.ceil(n / jobs) * (max_minutes + OVERHEAD_MINUTES))
