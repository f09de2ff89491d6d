"""Compute-bound models at the runtime's limit: the service's clips/s against a raw onnxruntime loop.

1. The service's own pipeline in-process (`bench.pipeline_limit`: decoder pool, batcher, runtime behind
   `service.pipeline.Predictor`, default settings or the `--settings` given) at `concurrency` clients on
   the e2e clip mix.
2. A bare `onnxruntime.InferenceSession` on the same `model.onnx` with the same session options as the
   service's runtime (`intra_op_num_threads` from the same settings), running batches of the service's
   mean batch size back to back on random uint8 clips for the same time.

The ratio (1 / 2) is how close serving gets to the runtime's own ceiling: what is lost is decoding on the
same cores, batching waits, copies and the event loop. On a machine shared with other jobs wall-clock
clips/s swing with their load, so the CPU seconds each side spends per clip are compared too
(`cpu_efficiency`: raw / service, the service's process and its decoder workers).

    python -m bench.runtime_limit --bundle bench/results/work/quantize/timesformer_base_8x224-fp32 \
        --bundle bench/results/work/quantize/videomae_base_16x224-fp32
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


def measure_bundle(
    bundle: Path, *, concurrency: int, duration_s: float, settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """One bundle: the service's pipeline (`settings`: overrides of the service's settings), then the bare
    session at the service's mean batch size with the same threads."""
    from bench.pipeline_limit import measure
    from export.manifest import read_manifest
    from service.settings import Settings

    clips = clip_mix()
    overrides = dict(settings or {})
    service = measure(
        bundle.parent,
        bundle.name,
        clips,
        concurrency=(concurrency,),
        duration_s=duration_s,
        warmup_rounds=0,
        settings_overrides=overrides,
    )[0].summary()
    batch = max(1, round(service["mean_batch_size"] or 1))
    threads = Settings(models=[], **overrides).intra_op_threads  # type: ignore[arg-type]
    raw = raw_loop(bundle, batch, duration_s, threads)
    ratio = service["clips_per_s"] / raw["clips_per_s"] if raw["clips_per_s"] else None
    service["cpu_s_per_clip"] = service["cpu_s"] / service["ok"] if service["ok"] else None
    cpu_ratio = raw["cpu_s_per_clip"] / service["cpu_s_per_clip"] if service["cpu_s_per_clip"] else None
    return {
        "bundle": str(bundle),
        "model": read_manifest(bundle).name,
        "settings": overrides,
        "service": service,
        "raw_onnxruntime": raw,
        "service_over_raw": None if ratio is None else round(ratio, 3),
        # CPU seconds per clip, raw / service: the share of the service's CPU that is the runtime's own
        # work; steadier than wall-clock clips/s on a machine shared with other jobs
        "cpu_efficiency": None if cpu_ratio is None else round(cpu_ratio, 3),
    }


def run(
    bundles: Sequence[Path],
    *,
    concurrency: int,
    duration_s: float,
    settings: Sequence[dict[str, str]] = ({},),
) -> dict[str, Any]:
    """Every bundle under every set of settings overrides."""
    env = describe_environment()
    rows = [
        measure_bundle(b, concurrency=concurrency, duration_s=duration_s, settings=s)
        for b in bundles
        for s in settings
    ]
    return {
        "benchmark": "runtime_limit",
        "environment": {"before": env, "after": describe_environment()},
        "concurrency": concurrency,
        "duration_s": duration_s,
        "models": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    from bench.report import markdown_table

    env = results["environment"]["before"]
    head = (
        f"### Compute-bound models at the runtime's limit\n\n{env['time_utc']} UTC, {env['host_cpus']} CPUs "
        f"({env['cpu_model']}), commit {env['git_commit']}, load average {env['load_average'][0]} before; "
        f"{results['concurrency']} clients, {results['duration_s']:g} s per side.\n\n"
    )
    rows = [
        [
            r["model"],
            ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "defaults",
            r["service"]["clips_per_s"],
            r["service"]["mean_batch_size"],
            r["raw_onnxruntime"]["clips_per_s"],
            r["service_over_raw"],
            r["service"]["cpu_s_per_clip"],
            r["raw_onnxruntime"]["cpu_s_per_clip"],
            r["cpu_efficiency"],
        ]
        for r in results["models"]
    ]
    headers = [
        "model",
        "service settings",
        "service clips/s",
        "mean batch",
        "bare session clips/s",
        "service / bare",
        "service CPU s/clip",
        "bare CPU s/clip",
        "CPU ratio",
    ]
    return head + markdown_table(headers, rows) + "\n"


def parse_settings(text: str) -> dict[str, str]:
    """`max_batch_size=1,max_wait_ms=0` -> {"max_batch_size": "1", "max_wait_ms": "0"}; "defaults" -> {}."""
    if text in ("", "defaults"):
        return {}
    pairs = [part.partition("=") for part in text.split(",")]
    if any(not sep or not name for name, sep, _ in pairs):
        raise ValueError(f"--settings takes NAME=VALUE[,NAME=VALUE], got {text!r}")
    return {name.strip(): value.strip() for name, _, value in pairs}


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_json

    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime_limit", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--bundle", type=Path, action="append", required=True, help="a bundle folder; repeat for several"
    )
    parser.add_argument(
        "--settings",
        action="append",
        default=None,
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="service settings to measure under (e.g. max_batch_size=1); repeat for several (`defaults`)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds for each side")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    settings = [parse_settings(text) for text in args.settings] if args.settings else [{}]
    bundles = [b.resolve() for b in args.bundle]
    results = run(bundles, concurrency=args.concurrency, duration_s=args.duration, settings=settings)
    table = markdown(results)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtime_limit.md").write_text(table)
    print(f"wrote {write_json(results, args.out / 'runtime_limit.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
