"""`vtserve bench [e2e|models|gpu|all]`: run the benchmarks and write JSON, markdown and PNG plots.

    vtserve bench                          # all: e2e + models (+ gpu when a CUDA device is present)
    vtserve bench e2e --duration 60        # vtserve vs naive baseline vs LitServe vs pipeline limit, 1/4/16
    vtserve bench models --repeats 3       # onnxruntime vs torch eager per batch size, GFLOP/s
    vtserve bench gpu                      # TimeSformer-Base on the GPU (fails clearly without CUDA)
    vtserve bench gpu --device cpu --tiny  # smoke test of the GPU harness on CPU
    vtserve bench overload --clients 1,4,16,64,256 --duration 15   # goodput past the knee (not in `all`)
    vtserve bench quantize                 # float32 vs int8 bundles: latency, top-1 on motion (not in `all`)

Results go to `--out` (default `bench/results/`): `<mode>.json`, `<mode>.md`, `<mode>.png`, and
`summary.md` gathering the markdown tables of every mode that has run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

MODES = ("e2e", "models", "gpu", "overload", "quantize", "all")
SUMMARY_PARTS = ("e2e.md", "models.md", "gpu.md", "overload.md", "quantize.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", nargs="?", choices=MODES, default="all", help="which benchmark (default all)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="results folder")
    from bench import e2e as e2e_bench  # torch-free; one definition of the e2e options

    e2e_bench.add_arguments(parser.add_argument_group("e2e"))
    models = parser.add_argument_group("models")
    models.add_argument("--models", help="comma-separated (default auto,timesformer_base_8x224)")
    models.add_argument("--model-batches", help="comma-separated batch sizes (default 1,2,4,8; Base 1,2)")
    models.add_argument("--repeats", type=int, help="timed runs per batch (default 5; Base 2)")
    gpu = parser.add_argument_group("gpu")
    gpu.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: harness smoke test")
    gpu.add_argument("--tiny", action="store_true", help="timesformer_tiny instead of Base")
    gpu.add_argument("--gpu-batches", help="comma-separated (default 1,2,4,8,16,32,64)")
    gpu.add_argument("--dtypes", default="bf16,fp16")
    gpu.add_argument("--kernels", default="sdpa,explicit")
    gpu.add_argument("--cuda-graphs", choices=["off", "on", "both"], default="both")
    gpu.add_argument("--iters", type=int, help="timed iterations per configuration (default 20)")
    gpu.add_argument("--peak-tflops", type=float, default=790.0, help="for MFU (H100 dense bf16)")
    gpu.add_argument("--no-runtime-check", action="store_true")
    from bench import overload as overload_bench  # torch-free too

    overload_bench.add_arguments(parser.add_argument_group("overload"))


def _written(paths: list[Path]) -> None:
    for path in paths:
        print(f"wrote {path}")


def run_e2e(args: argparse.Namespace) -> None:
    from bench.e2e import run_args
    from bench.report import write_e2e

    _written(write_e2e(run_args(args), args.out))


def run_models(args: argparse.Namespace) -> None:
    from bench.models import parse_plan
    from bench.models import run as run_bench
    from bench.report import write_models

    plan = parse_plan(args.models, args.model_batches, args.repeats)
    _written(write_models(run_bench(plan, workdir=args.out / "work" / "models"), args.out))


def run_gpu(args: argparse.Namespace) -> bool:
    """False (with the reason printed) when there is no CUDA device."""
    from bench.gpu import NoCudaError, run_args
    from bench.report import write_gpu

    gpu_args = argparse.Namespace(**vars(args))
    gpu_args.batches = args.gpu_batches
    try:
        results = run_args(gpu_args)
    except NoCudaError as exc:
        print(f"gpu: skipped: {exc}")
        return False
    _written(write_gpu(results, args.out))
    return True


def run_overload(args: argparse.Namespace) -> None:
    from bench.overload import run_args
    from bench.overload_report import write_overload

    _written(write_overload(run_args(args), args.out))


def run_quantize(args: argparse.Namespace) -> None:
    from bench.quantize import run as run_bench
    from bench.quantize import write_quantize

    _written(write_quantize(run_bench(out_dir=args.out), args.out))


def write_summary(out_dir: Path) -> Path | None:
    parts = [(out_dir / name).read_text() for name in SUMMARY_PARTS if (out_dir / name).is_file()]
    if not parts:
        return None
    path = out_dir / "summary.md"
    path.write_text("## Benchmarks\n\n" + "\n".join(parts))
    return path


def run(args: argparse.Namespace) -> int:
    status = 0
    if args.mode in ("e2e", "all"):
        run_e2e(args)
    if args.mode in ("models", "all"):
        run_models(args)
    if args.mode in ("gpu", "all"):
        ran = run_gpu(args)
        if args.mode == "gpu" and not ran:
            status = 2
    if args.mode == "overload":
        run_overload(args)
    if args.mode == "quantize":
        run_quantize(args)
    summary = write_summary(args.out)
    if summary is not None:
        print(f"wrote {summary}")
    return status
