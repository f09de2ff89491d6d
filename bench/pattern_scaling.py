"""The cost-scaling study: every attention pattern at ViT-B width, 224 px, batch 1, a fixed small depth,
for growing frame counts — analytic FLOPs, measured CPU latency and peak memory.

Each pattern runs in its own process (`python -m bench.patterns _measure ...`), frame counts ascending,
so its peak resident memory can be read per step (`VmHWM`, reset through `/proc/self/clear_refs`
before each step) and a runaway step cannot take the study down. A pattern stops at the first step that
passes `max_step_s` or `max_memory_gb` (the issue's 60 s / 16 GB), and a step is not started when its
time, predicted from the previous step by the FLOP ratio, would pass `max_step_s` or the study's
deadline; such steps keep their analytic FLOPs and say why they were not measured.

The measured forward is the served graph's model without attention outputs (fused SDPA everywhere),
float32, `torch.inference_mode`; when a first run takes under `QUICK_S`, it is a warm-up and the median of
3 more is reported, else the first run is. Wall latency and the process's CPU time are both recorded: on
a shared machine the wall time grows with the load, the CPU time of a one-thread process much less.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.pattern_flops import Cost, Shape, model_cost

#: pattern → (registered constructor, overrides): ViT-B/16 at 224 px, frame-level tokens (tubelet 1).
LINEUP: dict[str, tuple[str, dict[str, Any]]] = {
    "joint_space_time": ("timesformer_base_8x224_joint", {}),
    "divided_space_time": ("timesformer_base_8x224", {}),
    "space_only": ("timesformer_base_8x224_space_only", {}),
    "factorised_encoder": ("vivit_b_fe_k400", {"tubelet_size": 1, "temporal_depth": 2}),
    "factorised_self_attention": ("factorised_self_attention_base_32x224", {"tubelet_size": 1}),
    "factorised_dot_product": ("factorised_dot_product_base_32x224", {"tubelet_size": 1}),
    "axial": ("axial_base_8x224", {}),
    "local_global": ("local_global_base_8x224", {}),
    "strided_sparse": ("strided_sparse_base_32x224", {"tubelet_size": 1}),
    "windowed": ("windowed_base_32x224", {"tubelet_size": 1}),
    "multiscale": ("multiscale_base_16x224", {}),
}
DEFAULT_FRAMES = (8, 16, 32, 64, 128)
QUICK_S = 2.0
Log = Callable[[str], None]


def build(pattern: str, frames: int, **shape: Any) -> Any:
    """The pattern's lineup model at `frames` frames (`shape`: depth, width… overrides), eval mode."""
    import models

    name, overrides = LINEUP[pattern]
    return models.create_model(name, num_frames=frames, **{**overrides, **shape}).eval()


#: pattern → (config field, `model_cost` option) pairs it reads.
OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "windowed": (("temporal_window", "window"),),
    "strided_sparse": (("temporal_stride", "stride"),),
    "local_global": (("temporal_window", "window"), ("temporal_stride", "stride")),
    "factorised_encoder": (("temporal_depth", "temporal_depth"),),
    "multiscale": (("strides", "strides"),),
}


def options_of(pattern: str, config: Any) -> dict[str, Any]:
    """The options `model_cost` reads for `pattern`, from a model config."""
    options = {key: getattr(config, field) for field, key in OPTIONS.get(pattern, ())}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def shape_of(config: Any) -> Shape:
    if config.tubelet_size != 1:
        raise ValueError("the study counts frame-level tokens: tubelet_size must be 1")
    return Shape(
        frames=config.num_frames,
        image_size=config.image_size,
        patch=config.patch_size,
        dim=config.embed_dim,
        mlp=config.hidden_dim,
        depth=config.depth,
        classes=config.num_classes,
    )


def analytic(pattern: str, frames: int, **shape: Any) -> tuple[Cost, dict[str, Any]]:
    """The analytic cost of the lineup model (built on the meta device: no memory, no compute)."""
    import torch

    with torch.device("meta"):
        config = build(pattern, frames, **shape).config
    options = options_of(pattern, config)
    return model_cost(pattern, shape_of(config), options), options


# --- one pattern, in a child process -----------------------------------------------------------------
def _status_kb(key: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (`VmHWM`); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the kernel (glibc `malloc_trim`), so that the RSS a step starts
    from holds no memory a previous step freed (else the step's peak would be hidden in it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _timed(model: Any, x: Any) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one forward pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    model(x)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_step(pattern: str, frames: int, **shape: Any) -> dict[str, Any]:
    """Latency and memory of one forward pass of the lineup model at `frames` frames."""
    import torch

    model = build(pattern, frames, **shape)
    size = model.config.image_size
    x = torch.randn(1, frames, 3, size, size)
    gc.collect()
    _release_freed_memory()
    before = _status_kb("VmRSS") or 0.0
    exact_peak = _reset_peak()
    with torch.inference_mode():
        runs = [_timed(model, x)]
        if runs[0][0] < QUICK_S:
            runs = [_timed(model, x) for _ in range(3)]  # after the first (warm-up) run
    peak = _status_kb("VmHWM") or 0.0
    return {
        "frames": frames,
        "latency_s": round(statistics.median(r[0] for r in runs), 4),
        "cpu_s": round(statistics.median(r[1] for r in runs), 4),
        "timed_runs": len(runs),
        "peak_rss_mb": round(peak / 1024, 1),
        "step_memory_mb": round((peak - before) / 1024, 1) if exact_peak else None,
    }


def measure_pattern(
    pattern: str,
    frames: Sequence[int],
    *,
    max_step_s: float,
    max_memory_gb: float,
    deadline: float,
    shape: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """Measure `frames` ascending; yields one record per frame count (measured, or why not)."""
    previous: tuple[float, float] | None = None  # (latency, gflops) of the last measured step
    stop: str | None = None
    for t in frames:
        gflops = analytic(pattern, t, **shape)[0].gflops
        if stop is None and previous is not None:
            predicted = previous[0] * gflops / previous[1]
            if predicted > max_step_s:
                stop = f"not run: predicted {predicted:.0f} s > {max_step_s:.0f} s from the previous step"
            elif time.time() + predicted > deadline:
                stop = f"not run: predicted {predicted:.0f} s would pass the study's time budget"
        if stop is not None:
            yield {"frames": t, "skipped": stop}
            continue
        step = measure_step(pattern, t, **shape)
        if step["latency_s"] > max_step_s or step["peak_rss_mb"] > max_memory_gb * 1024:
            step["over_limit"] = True
            stop = f"not run: the {t}-frame step passed {max_step_s:.0f} s or {max_memory_gb:.0f} GB"
        previous = (step["latency_s"], gflops)
        yield step


# --- the study, in the parent ---------------------------------------------------------------------
def run_pattern_child(
    pattern: str, frames: Sequence[int], limits: dict[str, Any], deadline: float, *, tiny: bool, threads: int
) -> list[dict[str, Any]]:
    """`python -m bench.patterns _measure` for one pattern; its JSON lines (partial when it is killed)."""
    command = [
        sys.executable, "-m", "bench.patterns", "_measure", "--pattern", pattern,
        "--frames", ",".join(map(str, frames)), "--threads", str(threads), "--deadline", str(deadline),
        "--max-step-s", str(limits["max_step_s"]), "--max-memory-gb", str(limits["max_memory_gb"]),
    ] + (["--tiny"] if tiny else [])  # fmt: skip
    timeout = max(30.0, deadline - time.time() + 2 * limits["max_step_s"])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        out, note = (
            done.stdout,
            None if done.returncode == 0 else f"exit {done.returncode}: {done.stderr[-300:]}",
        )
    except subprocess.TimeoutExpired as exc:
        out, note = (
            (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""),
            "killed",
        )
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if note is not None:
        records.append({"error": note})
    return records


def growth(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth per doubling of T (log2 of the ratio) over the two largest frame counts with a value:
    analytic FLOPs, wall latency and CPU time; `linear_in_T` when the FLOPs' exponent is under 1.1."""

    def exponent(key: str) -> float | None:
        points = [(s["frames"], s[key]) for s in steps if s.get(key)]
        if len(points) < 2:
            return None
        (t0, v0), (t1, v1) = points[-2], points[-1]
        return round(math.log(v1 / v0) / math.log(t1 / t0), 3)

    flops = exponent("gflops")
    measured = [s for s in steps if s.get("latency_s")]
    return {
        "flops_exponent": flops,
        "latency_exponent": exponent("latency_s"),
        "cpu_exponent": exponent("cpu_s"),
        "latency_exponent_frames": [s["frames"] for s in measured[-2:]],
        "linear_in_T": flops is not None and flops < 1.1,
    }


def quadratic_takes_over(pattern: str, shape: dict[str, Any], *, sparse: bool = False) -> int | None:
    """The first power-of-2 frame count at which `q·kᵀ` and `p·v` cost more than all the rest."""
    options = analytic(pattern, 8, **shape)[1]
    with_frames = shape_of_frames(pattern, shape)
    t = 8
    while t <= 2**16:
        cost = model_cost(pattern, with_frames(t), options)
        attention = cost.attention_sparse if sparse else cost.attention
        if attention >= cost.linear:
            return t
        t *= 2
    return None


def shape_of_frames(pattern: str, shape: dict[str, Any]) -> Callable[[int], Shape]:
    """`t -> Shape` of the lineup model at `t` frames (built once, on the meta device)."""
    import torch

    with torch.device("meta"):
        base = shape_of(build(pattern, 8, **shape).config)
    return lambda t: replace(base, frames=t)


def plot(result: dict[str, Any], path: Path) -> None:
    """Log-log panels against frames: analytic GFLOPs, wall latency, CPU time, memory of the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("gflops", "GFLOPs per clip (analytic, as run)"),
        ("latency_s", "latency per clip, s (wall)"),
        ("cpu_s", "CPU time per clip, s (the measuring process's)"),
        ("step_memory_mb", "memory of the forward pass, MB (peak RSS - RSS before)"),
    )
    fig, axes = plt.subplots(2, 2, figsize=(15, 11))
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        for i, (pattern, entry) in enumerate(result["patterns"].items()):
            points = [(s["frames"], s[key]) for s in entry["steps"] if s.get(key)]
            if points:
                style = "--" if pattern in ("joint_space_time", "space_only") else "-"
                color = plt.get_cmap("tab20")(i % 20)
                ax.plot(
                    *zip(*points, strict=True), style, color=color, marker="o", markersize=3, label=pattern
                )
        frames = [s["frames"] for s in next(iter(result["patterns"].values()))["steps"]]
        ax.set(xscale="log", yscale="log", xlabel="frames T", title=title)
        ax.set_xticks(frames, [str(f) for f in frames])
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    setup = result["setup"]
    fig.suptitle(
        f"{setup['shape']}, depth {setup['depth']}, batch 1, {setup['threads']} thread(s), CPU float32"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
