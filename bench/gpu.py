"""GPU figures for TimeSformer-Base 8×224 (random weights) through the `torch` runtime's path.

The measured module is what `service.runtimes.torch_runtime.TorchRuntime` runs: `export.wrapper.
BundleGraph` (uint8 `[B, T, H, W, 3]` in, normalisation inside, logits and optionally the attention
maps out) under `torch.autocast` and `torch.inference_mode`. Swept: autocast dtype (bf16, fp16) ×
attention kernel (SDPA via `F.scaled_dot_product_attention`, or explicit softmax) × attention outputs
(with, without) × batch (1…64) × CUDA graphs (off, on: the forward captured once per batch size with
`torch.cuda.graph` and replayed). Each configuration reports:

* `compute`: milliseconds per batch with the input already on the GPU and outputs left there
  (CUDA events) — the basis of model FLOP utilisation (MFU) against `--peak-tflops` (790: the H100's
  dense bf16 peak as measured here);
* `runtime`: the whole `TorchRuntime.infer` path — numpy uint8 host → device, forward, outputs
  `.float().cpu()` — as clips/s.

A final check runs the real `TorchRuntime` on the default configuration so the harness can be compared
with it. FLOPs per clip are counted with `torch.utils.flop_counter.FlopCounterMode`.

    python -m bench.gpu                                  # the full sweep on CUDA (a few minutes on an H100)
    python -m bench.gpu --batches 1,8,32 --dtypes bf16   # a shorter one
    python -m bench.gpu --device cpu --tiny              # smoke test of the harness on CPU (tiny model)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.gpu_timing import Config, Runner, time_compute, time_runtime

H100_DENSE_BF16_TFLOPS = 790.0
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64)
BASE_MODEL = "timesformer_base_8x224"
TINY_MODEL = "timesformer_tiny"


class NoCudaError(RuntimeError):
    """No CUDA device: the GPU benchmark cannot run here."""


@dataclass(frozen=True, kw_only=True)
class Row:
    config: Config
    compute_ms: float | None
    runtime_ms: float | None
    peak_memory_mb: float | None
    error: str | None = None

    def as_dict(self, gflop_per_clip: float, peak_tflops: float) -> dict[str, Any]:
        out: dict[str, Any] = {**asdict(self.config), "error": self.error}
        b = self.config.batch
        out["compute_ms"] = None if self.compute_ms is None else round(self.compute_ms, 3)
        out["runtime_ms"] = None if self.runtime_ms is None else round(self.runtime_ms, 3)
        out["compute_clips_per_s"] = None if not self.compute_ms else round(1000.0 * b / self.compute_ms, 1)
        out["runtime_clips_per_s"] = None if not self.runtime_ms else round(1000.0 * b / self.runtime_ms, 1)
        out["mfu"] = (
            None
            if not self.compute_ms
            else round(gflop_per_clip * b / (self.compute_ms / 1000.0) / (peak_tflops * 1000.0), 4)
        )
        out["peak_memory_mb"] = self.peak_memory_mb
        return out


def require_device(torch: Any, device: str) -> Any:
    """The torch device, or `NoCudaError` with a one-line reason when CUDA is asked for and absent."""
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise NoCudaError(
            f"no CUDA device visible to torch {torch.__version__} ({build}); run this on a GPU host "
            "(`python -m bench.gpu`), or smoke-test the harness with `--device cpu --tiny`"
        )
    return torch.device("cuda")


def build_graphs(torch: Any, model_name: str, device: Any) -> tuple[Any, dict[bool, Any], float]:
    """The model (random weights, seed 0), its BundleGraph with and without attention outputs, GFLOP/clip."""
    import models
    from bench.bundles import flops_per_clip
    from export.wrapper import BundleGraph, available_outputs

    torch.manual_seed(0)
    model = models.create_model(model_name).eval()
    gflop = flops_per_clip(model, attention=True) / 1e9
    card = model.card
    names = available_outputs(model, card.input.num_frames, card.input.image_size, True)
    graphs = {
        True: BundleGraph(model, card.input.mean, card.input.std, names).to(device).eval(),
        False: BundleGraph(model, card.input.mean, card.input.std).to(device).eval(),
    }
    return model, graphs, gflop


def measure(
    configs: Sequence[Config],
    *,
    model_name: str,
    device_name: str,
    iters: int,
    log: Callable[[str], None],
) -> tuple[list[Row], dict[str, Any]]:
    import numpy as np
    import torch

    device = require_device(torch, device_name)
    model, graphs, gflop = build_graphs(torch, model_name, device)
    card = model.card
    rows = []
    for config in configs:
        model.set_fused_attn(config.attention_kernel == "sdpa")
        host = np.random.default_rng(config.batch).integers(
            0,
            256,
            size=(config.batch, card.input.num_frames, card.input.image_size, card.input.image_size, 3),
            dtype=np.uint8,
        )
        try:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            runner = Runner(torch, graphs[config.attention_outputs], device, config)
            x = torch.from_numpy(host).to(device)
            runner.prepare(x)
            compute = time_compute(torch, runner, x, iters)
            runtime = time_runtime(torch, runner, host, iters)
            peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None
            row = Row(config=config, compute_ms=compute, runtime_ms=runtime, peak_memory_mb=peak)
        except Exception as exc:  # e.g. out of memory at a large batch, or a capture failure: record it
            message = " ".join(str(exc).split())[:200]
            row = Row(config=config, compute_ms=None, runtime_ms=None, peak_memory_mb=None, error=message)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rows.append(row)
        log(_describe(row))
    info = {
        "model": f"{model_name} (random weights)",
        "gflop_per_clip": gflop,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    return rows, info


def _describe(row: Row) -> str:
    c = row.config
    name = (
        f"{c.dtype} {c.attention_kernel:8s} {'attn' if c.attention_outputs else 'logits':6s} "
        f"{'graph' if c.cuda_graph else 'eager':5s} b{c.batch:<3d}"
    )
    if row.error:
        return f"  {name}: failed: {row.error}"
    return f"  {name}: compute {row.compute_ms:8.2f} ms, runtime {row.runtime_ms:8.2f} ms"


def runtime_check(
    model_name: str, device_name: str, batches: Sequence[int], iters: int
) -> list[dict[str, Any]]:
    """The real `TorchRuntime` (default settings: bf16 autocast on CUDA, SDPA, attention outputs)."""
    import numpy as np
    import torch

    import models
    from export.describe import build_manifest
    from export.wrapper import available_outputs
    from service.runtimes.base import RuntimeOptions
    from service.runtimes.torch_runtime import TorchRuntime

    torch.manual_seed(0)
    model = models.create_model(model_name).eval()
    card = model.card
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vtserve-bench-gpu-") as tmp:
        weights = models.save_pretrained(model, Path(tmp) / "weights")
        names = available_outputs(model, card.input.num_frames, card.input.image_size, True)
        manifest = build_manifest(
            card,
            output_names=names,
            versions={},
            files={},
            parity=None,
            source=str(weights),
        )
        del model
        runtime = TorchRuntime(
            Path(tmp), manifest, RuntimeOptions(device=device_name, max_batch=max(batches))
        )
        runtime.warmup()
        for batch in batches:
            video = np.random.default_rng(batch).integers(
                0, 256, size=runtime.input_spec.shape(batch), dtype=np.uint8
            )
            runtime.infer(video)
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                runtime.infer(video)
                times.append(1000.0 * (time.perf_counter() - t0))
            ms = statistics.median(times)
            rows.append(
                {"batch": batch, "runtime_ms": round(ms, 3), "clips_per_s": round(1000.0 * batch / ms, 1)}
            )
        rows.insert(0, {"provider": runtime.provider})
        runtime.close()
    return rows


def sweep(
    *, dtypes: Sequence[str], kernels: Sequence[str], batches: Sequence[int], graphs: Sequence[bool]
) -> list[Config]:
    return [
        Config(dtype=d, attention_kernel=k, attention_outputs=o, cuda_graph=g, batch=b)
        for d in dtypes
        for k in kernels
        for o in (True, False)
        for g in graphs
        for b in batches
    ]


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Best MFU, the cost of attention outputs, the batching speedup and the CUDA-graph effect."""
    ok = [r for r in rows if r["error"] is None and r["compute_ms"]]
    if not ok:
        return {}
    best = max(ok, key=lambda r: r["compute_clips_per_s"])

    def find(**match: Any) -> dict[str, Any] | None:
        return next((r for r in ok if all(r[k] == v for k, v in match.items())), None)

    same = {k: best[k] for k in ("dtype", "attention_kernel", "cuda_graph", "batch")}
    with_attn = find(**same, attention_outputs=True)
    without = find(**same, attention_outputs=False)
    attn_cost = (
        round(with_attn["compute_ms"] / without["compute_ms"] - 1.0, 4) if with_attn and without else None
    )
    default = [
        r
        for r in ok
        if r["dtype"] == best["dtype"]
        and r["attention_kernel"] == best["attention_kernel"]
        and r["attention_outputs"]
        and r["cuda_graph"] == best["cuda_graph"]
    ]
    b1 = next((r for r in default if r["batch"] == 1), None)
    top = max(default, key=lambda r: r["runtime_clips_per_s"] or 0.0) if default else None
    speedup = round(top["runtime_clips_per_s"] / b1["runtime_clips_per_s"], 2) if top and b1 else None
    graph_effect = {}
    for r in ok:
        if r["cuda_graph"]:
            eager = find(
                **{k: r[k] for k in ("dtype", "attention_kernel", "attention_outputs", "batch")},
                cuda_graph=False,
            )
            if eager:
                graph_effect[f"{r['dtype']}/{r['attention_kernel']}/b{r['batch']}"] = round(
                    eager["compute_ms"] / r["compute_ms"], 3
                )
    return {
        "best": best,
        "attention_output_cost_at_best": attn_cost,
        "batching_speedup_runtime_path": speedup,
        "batching_best_batch": top["batch"] if top else None,
        "cuda_graph_speedup": graph_effect,
        "goals": {
            "mfu_at_best_batch": {"goal": ">= 50%", "value": best["mfu"], "met": (best["mfu"] or 0) >= 0.5},
            "attention_output_cost": {
                "goal": "<= 5%",
                "value": attn_cost,
                "met": attn_cost is not None and attn_cost <= 0.05,
            },
            "batching_vs_batch_1": {"goal": ">= 2x", "value": speedup, "met": (speedup or 0) >= 2.0},
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: smoke test only")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_MODEL} instead of {BASE_MODEL}")
    parser.add_argument("--batches", help="comma-separated (default 1,2,4,8,16,32,64; --tiny: 1,2)")
    parser.add_argument("--dtypes", default="bf16,fp16", help="autocast dtypes: bf16, fp16, fp32")
    parser.add_argument("--kernels", default="sdpa,explicit", help="attention kernels: sdpa, explicit")
    parser.add_argument(
        "--cuda-graphs", choices=["off", "on", "both"], default="both", help="CUDA only; ignored on CPU"
    )
    parser.add_argument("--iters", type=int, help="timed iterations per configuration (default 20; --tiny 2)")
    parser.add_argument("--peak-tflops", type=float, default=H100_DENSE_BF16_TFLOPS)
    parser.add_argument("--no-runtime-check", action="store_true", help="skip the real TorchRuntime check")


def run_args(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The GPU benchmark from parsed arguments; raises `NoCudaError` without CUDA (unless --device cpu)."""
    import torch

    from bench.environment import describe_environment

    require_device(torch, args.device)
    model_name = TINY_MODEL if args.tiny else BASE_MODEL
    default_batches = "1,2" if args.tiny else ",".join(map(str, DEFAULT_BATCHES))
    batches = tuple(int(b) for b in (args.batches or default_batches).split(","))
    graphs = {"off": (False,), "on": (True,), "both": (False, True)}[args.cuda_graphs]
    if args.device != "cuda":
        graphs = (False,)
    iters = args.iters or (2 if args.tiny else 20)
    configs = sweep(
        dtypes=args.dtypes.split(","), kernels=args.kernels.split(","), batches=batches, graphs=graphs
    )
    log(f"{model_name} on {args.device}: {len(configs)} configurations, {iters} timed iterations each")
    rows, info = measure(configs, model_name=model_name, device_name=args.device, iters=iters, log=log)
    table = [r.as_dict(info["gflop_per_clip"], args.peak_tflops) for r in rows]
    check = None
    if not args.no_runtime_check:
        log("TorchRuntime check (default configuration) ...")
        check = runtime_check(model_name, args.device, batches, iters)
    return {
        "benchmark": "gpu",
        "environment": describe_environment(),
        "info": {**info, "peak_tflops": args.peak_tflops, "iters": iters},
        "rows": table,
        "summary": summarise(table),
        "torch_runtime_check": check,
    }


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_gpu

    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    try:
        results = run_args(args)
    except NoCudaError as exc:
        print(f"bench.gpu: {exc}", file=sys.stderr)
        return 2
    for path in write_gpu(results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
