"""INT8 on CPU: float32 vs `--quantize int8` bundles, latency at batch 1 and 8 and top-1 on `motion`.

For each model both bundles are exported (`export.bundle.export_model`, the int8 one with
`quantize="int8"`; cached under `--out/work/quantize` by weights and options), loaded through the
service's onnxruntime runtime (`service.runtimes.create_runtime`, CPU, onnxruntime's default threads: what
`vtserve serve` runs) and timed on random uint8 clips: median of `repeats` calls after one warm-up, per
clip. The shipped demo models are also scored on the `motion` test set (`models.demo.evaluate.TEST_SEED`,
the set their cards report): top-1 accuracy of each bundle and how often the int8 bundle's top-1 is the
float32 one's. Models with random weights (TimeSformer-B) are timed only.

    python -m bench.quantize                                  # both demo models + TimeSformer-B 8x224
    python -m bench.quantize --models motion-vivit --test-clips 440 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.environment import describe_environment

DEFAULT_MODELS = ("motion-timesformer", "motion-vivit", "timesformer_base_8x224")
BATCHES = (1, 8)
ROUNDS = 3
LOG = partial(print, flush=True)


def export_pair(name: str, work_dir: Path) -> dict[str, Path]:
    """{"fp32": bundle, "int8": bundle} for `name` (shipped weights, else random ones from seed 0)."""
    from bench.bundles import build_model, export_unless_current, folder_digest, resolve
    from export.bundle import Quantize, export_model

    resolved, shipped = resolve(name)
    model, _label = build_model(resolved)
    key = folder_digest(_weights_dir(resolved)) if shipped else f"random seed 0 {resolved}"
    bundles = {}
    pairs: tuple[tuple[str, Quantize], ...] = (("fp32", "none"), ("int8", "int8"))
    for precision, quantize in pairs:
        out = work_dir / f"{resolved}-{precision}"
        export_unless_current(
            out,
            f"{key} quantize={quantize}",
            partial(export_model, model, out, max_batch=16, check_parity=shipped, quantize=quantize),
        )
        bundles[precision] = out
    return bundles


def _weights_dir(name: str) -> Path:
    import models

    path = models.shipped_path(name)
    assert path is not None
    return Path(path)


def time_pair(bundles: dict[str, Path], batches: Sequence[int], repeats: int) -> dict[str, dict[str, float]]:
    """Best and median ms per clip of each bundle at each batch size through the serving runtime.

    The bundles take turns in blocks of calls (`ROUNDS` each, each block after an untimed call), so a
    busy shared machine slows both alike. There, calls are bimodal (1.5 ms, or 30 ms when another process
    takes a core from one of onnxruntime's threads mid-call), so the best call is the figure compared.
    """
    from export.manifest import read_manifest
    from export.ort_session import random_video
    from service.runtimes import RuntimeOptions, create_runtime

    options = RuntimeOptions(providers=("cpu",), max_batch=16)
    runtimes = {p: create_runtime("onnxruntime", b, read_manifest(b), options) for p, b in bundles.items()}
    contract = read_manifest(bundles["fp32"]).input
    out: dict[str, dict[str, float]] = {p: {} for p in bundles}
    try:
        for batch in batches:
            video = random_video(batch, contract.num_frames, contract.image_size, seed=batch)
            times: dict[str, list[float]] = {p: [] for p in bundles}
            for _ in range(ROUNDS):
                for precision, runtime in runtimes.items():
                    runtime.infer(video)  # untimed
                    for _ in range(max(1, repeats // ROUNDS)):
                        t0 = time.perf_counter()
                        runtime.infer(video)
                        times[precision].append(time.perf_counter() - t0)
            for precision, values in times.items():
                per_clip = [1000 * v / batch for v in values]
                out[precision][f"batch_{batch}_ms_per_clip"] = round(min(per_clip), 2)
                out[precision][f"batch_{batch}_median_ms_per_clip"] = round(statistics.median(per_clip), 2)
    finally:
        for runtime in runtimes.values():
            runtime.close()
    return out


def score_on_motion(bundles: dict[str, Path], clips: int) -> dict[str, Any]:
    """Top-1 accuracy of each bundle on the motion test set, and int8/fp32 top-1 agreement."""
    from export.manifest import read_manifest
    from models.demo.evaluate import TEST_SEED
    from models.demo.motion import make_test_set
    from service.runtimes import RuntimeOptions, create_runtime

    contract = read_manifest(bundles["fp32"]).input
    video, labels = make_test_set(
        clips, seed=TEST_SEED, num_frames=contract.num_frames, size=contract.image_size
    )
    top1 = {}
    for precision, bundle in bundles.items():
        runtime = create_runtime(
            "onnxruntime", bundle, read_manifest(bundle), RuntimeOptions(providers=("cpu",))
        )
        try:
            logits = np.concatenate([runtime.infer(video[i : i + 8]).logits for i in range(0, clips, 8)])
        finally:
            runtime.close()
        top1[precision] = logits.argmax(axis=1)
    return {
        "test_clips": clips,
        "test_seed": TEST_SEED,
        "top1_fp32": round(float((top1["fp32"] == labels).mean()), 4),
        "top1_int8": round(float((top1["int8"] == labels).mean()), 4),
        "top1_agreement": round(float((top1["fp32"] == top1["int8"]).mean()), 4),
    }


def measure(name: str, work_dir: Path, *, test_clips: int, repeats: int, log: Any = LOG) -> dict[str, Any]:
    from bench.bundles import resolve
    from export.manifest import ONNX_NAME, read_manifest

    log(f"{name}: exporting fp32 and int8 bundles (cached) ...")
    bundles = export_pair(name, work_dir)
    int8 = read_manifest(bundles["int8"])
    row: dict[str, Any] = {
        "model": name,
        "shipped_weights": resolve(name)[1],
        "onnx_mb": {p: round((b / ONNX_NAME).stat().st_size / 1e6, 1) for p, b in bundles.items()},
        "quantized_parity": None if int8.quantized_parity is None else int8.quantized_parity.model_dump(),
    }
    timed = time_pair(bundles, BATCHES, ROUNDS if int8.input.image_size >= 224 else repeats)
    for precision, times in timed.items():
        row[precision] = times
        log(f"  {precision}: {times}")
    if row["shipped_weights"]:
        row["motion"] = score_on_motion(bundles, test_clips)
        log(f"  motion: {row['motion']}")
    return row


def run(
    *, models: Sequence[str] = DEFAULT_MODELS, out_dir: Path, test_clips: int = 2200, repeats: int = 30
) -> dict[str, Any]:
    work_dir = (out_dir / "work" / "quantize").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    env = describe_environment()
    rows = [measure(name, work_dir, test_clips=test_clips, repeats=repeats) for name in models]
    return {
        "benchmark": "quantize",
        "environment": {"before": env, "after": describe_environment()},
        "rows": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    from bench.report import markdown_table

    env = results["environment"]["before"]
    table = []
    for row in results["rows"]:
        motion = row.get("motion") or {}
        for precision in ("fp32", "int8"):
            times = row[precision]
            table.append(
                [
                    row["model"] + ("" if row["shipped_weights"] else " (random weights)"),
                    precision,
                    times["batch_1_ms_per_clip"],
                    times["batch_8_ms_per_clip"],
                    motion.get(f"top1_{precision}"),
                    motion.get("top1_agreement") if precision == "int8" else None,
                    row["onnx_mb"][precision],
                ]
            )
    headers = ["model", "graph", "batch 1 ms/clip", "batch 8 ms/clip", "top-1 motion", "top-1 = fp32", "MB"]
    return (
        f"### INT8 on CPU\n\n{env['time_utc']} UTC, {env['host_cpus']} CPUs ({env['cpu_model']}), "
        f"load average {env['load_average'][0]}; onnxruntime {env['packages'].get('onnxruntime')}, the "
        "serving runtime with its default threads; best of the timed calls, per clip (medians in the JSON)."
        "\n\n" + markdown_table(headers, table) + "\n"
    )


def write_quantize(results: dict[str, Any], out_dir: Path) -> list[Path]:
    from bench.report import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "quantize.md"
    md.write_text(markdown(results))
    return [write_json(results, out_dir / "quantize.json"), md]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quantize", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated")
    parser.add_argument("--test-clips", type=int, default=2200, help="motion test clips (demo models)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per batch (3 at 224²)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    results = run(models=models, out_dir=args.out, test_clips=args.test_clips, repeats=args.repeats)
    for path in write_quantize(results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
