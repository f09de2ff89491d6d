"""Compute-bound models at the runtime's limit: the service's clips/s against a raw onnxruntime loop.

1. The service's own pipeline in-process (`bench.pipeline_limit`: decoder pool, batcher, runtime behind
   `service.pipeline.Predictor`, default settings) at `concurrency` clients on the e2e clip mix.
2. A bare `onnxruntime.InferenceSession` on the same `model.onnx` with the same session options as the
   service's runtime (`intra_op_num_threads` from the same settings), running batches of the service's
   mean batch size back to back on random uint8 clips for the same time.

The ratio (1 / 2) is how close serving gets to the runtime's own ceiling: what is lost is decoding on the
same cores, batching waits, copies and the event loop. On a machine shared with other jobs wall-clock
clips/s swing with their load, so the CPU seconds each side spends per clip are compared too
(`cpu_efficiency`: raw / service, the service's process and its decoder workers).

    python -m bench.runtime_limit --bundle bench/results/work/quantize/timesformer_base_8x224-fp32
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.clips import clip_mix
from bench.environment import describe_environment


def raw_loop(bundle: Path, batch: int, duration_s: float, intra_op_threads: int = 0) -> dict[str, Any]:
    """Clips/s of a bare session running `batch`-clip batches back to back for `duration_s`."""
    import onnxruntime as ort

    from export.manifest import read_manifest
    from export.ort_session import random_video, run_session

    contract = read_manifest(bundle).input
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    video = random_video(batch, contract.num_frames, contract.image_size, seed=0)
    run_session(session, video)  # warm-up
    runs, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < duration_s:
        run_session(session, video)
        runs += 1
    elapsed, cpu_s = time.perf_counter() - start, time.process_time() - cpu0
    return {
        "batch": batch,
        "runs": runs,
        "duration_s": round(elapsed, 1),
        "clips_per_s": batch * runs / elapsed,
        "cpu_s_per_clip": cpu_s / (batch * runs),
    }


def run(bundle: Path, *, concurrency: int, duration_s: float) -> dict[str, Any]:
    from bench.pipeline_limit import measure
    from service.settings import Settings

    env = describe_environment()
    clips = clip_mix()
    service = measure(
        bundle.parent, bundle.name, clips, concurrency=(concurrency,), duration_s=duration_s, warmup_rounds=0
    )[0].summary()
    batch = max(1, round(service["mean_batch_size"] or 1))
    threads = Settings(models=[]).intra_op_threads
    raw = raw_loop(bundle, batch, duration_s, threads)
    ratio = service["clips_per_s"] / raw["clips_per_s"] if raw["clips_per_s"] else None
    service["cpu_s_per_clip"] = service["cpu_s"] / service["ok"] if service["ok"] else None
    cpu_ratio = raw["cpu_s_per_clip"] / service["cpu_s_per_clip"] if service["cpu_s_per_clip"] else None
    return {
        "benchmark": "runtime_limit",
        "environment": {"before": env, "after": describe_environment()},
        "bundle": str(bundle),
        "service": service,
        "raw_onnxruntime": raw,
        "service_over_raw": None if ratio is None else round(ratio, 3),
        # CPU seconds per clip, raw / service: the share of the service's CPU that is the runtime's own
        # work; steadier than wall-clock clips/s on a machine shared with other jobs
        "cpu_efficiency": None if cpu_ratio is None else round(cpu_ratio, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_json

    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime_limit", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--bundle", type=Path, required=True, help="a bundle folder (model.json + model.onnx)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds for each side")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    results = run(args.bundle.resolve(), concurrency=args.concurrency, duration_s=args.duration)
    service, raw = results["service"], results["raw_onnxruntime"]
    print(
        f"service: {service['clips_per_s']:.3f} clips/s (mean batch {service['mean_batch_size']}, "
        f"errors {service['errors']}); raw onnxruntime at batch {raw['batch']}: {raw['clips_per_s']:.3f} "
        f"clips/s; ratio {results['service_over_raw']}; CPU s per clip: service "
        f"{service['cpu_s_per_clip']:.2f}, raw {raw['cpu_s_per_clip']:.2f} "
        f"(ratio {results['cpu_efficiency']})"
    )
    print(f"wrote {write_json(results, args.out / 'runtime_limit.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
