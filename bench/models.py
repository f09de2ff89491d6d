"""Model figures on CPU: onnxruntime vs PyTorch eager per batch size, FLOPs per clip, achieved GFLOP/s.

Both runtimes run the same graph the service serves: uint8 video in, normalisation inside, logits plus
the attention outputs (`export.wrapper.BundleGraph` in PyTorch; the exported `model.onnx` in
onnxruntime, exported from that same module). Runs of the two alternate, so load from other processes
hits both alike; the median is reported. FLOPs are counted once per model on a one-clip forward pass
with `torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions; a multiply-add counts 2).

    python -m bench.models                                    # motion-timesformer, TimeSformer-Base
    python -m bench.models --models motion_timesformer --batches 1,2,4,8 --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

LOG = partial(print, flush=True)
DEFAULT_PLAN: dict[str, tuple[tuple[int, ...], int]] = {
    # model -> (batch sizes, repeats); Base is ~2.3 s per clip here, so it gets a tiny plan
    "auto": ((1, 2, 4, 8), 5),
    "timesformer_base_8x224": ((1, 2), 2),
}


@dataclass(frozen=True, kw_only=True)
class Row:
    model: str
    runtime: str
    provider: str
    batch: int
    repeats: int
    median_s: float
    gflop_per_clip: float

    @property
    def ms_per_clip(self) -> float:
        return 1000.0 * self.median_s / self.batch

    @property
    def clips_per_s(self) -> float:
        return self.batch / self.median_s

    @property
    def gflops(self) -> float:
        return self.gflop_per_clip * self.batch / self.median_s

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ms_per_clip": round(self.ms_per_clip, 2),
            "clips_per_s": round(self.clips_per_s, 2),
            "achieved_gflops": round(self.gflops, 1),
        }


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _weights_key(name: str) -> str:
    """Shipped weights: a digest of their folder; random ones are fixed by the seed (the label says so)."""
    import models
    from bench.bundles import folder_digest, resolve

    resolved, shipped = resolve(name)
    path = models.shipped_path(resolved) if shipped else None
    return folder_digest(path) if path is not None else "random-seed-0"


def measure_model(
    name: str, *, batches: Sequence[int], repeats: int, warmup: int, workdir: Path, log: Callable[[str], None]
) -> tuple[list[Row], dict[str, Any]]:
    import numpy as np
    import torch

    from bench.bundles import build_model, export_unless_current, flops_per_clip
    from export.bundle import export_model
    from export.ort_session import open_session, random_video, run_session
    from export.wrapper import BundleGraph, available_outputs

    model, label = build_model(name)
    card = model.card
    gflop = flops_per_clip(model, attention=True) / 1e9
    gflop_logits = flops_per_clip(model, attention=False) / 1e9
    log(f"{label}: {gflop:.2f} GFLOP/clip with attention outputs ({gflop_logits:.2f} logits only); exporting")
    bundle = workdir / name
    export_unless_current(
        bundle,
        f"{label} max_batch={max(batches)} {_weights_key(name)}",
        lambda: export_model(
            model, bundle, max_batch=max(batches), attention=True, check_parity=False, source=label
        ),
    )
    session = open_session(bundle / "model.onnx")
    provider = session.get_providers()[0]
    names = available_outputs(model, card.input.num_frames, card.input.image_size, True)
    graph = BundleGraph(model, card.input.mean, card.input.std, names).eval()
    torch_provider = f"torch {torch.__version__} CPU, {torch.get_num_threads()} threads"

    def torch_run(video: np.ndarray) -> None:
        with torch.inference_mode():
            graph(torch.from_numpy(video))

    rows = []
    for batch in batches:
        video = random_video(batch, card.input.num_frames, card.input.image_size, seed=batch)
        for _ in range(warmup):
            run_session(session, video)
            torch_run(video)
        ort_times: list[float] = []
        torch_times: list[float] = []
        for _ in range(repeats):
            ort_times.append(_timed(partial(run_session, session, video)))
            torch_times.append(_timed(partial(torch_run, video)))
        for runtime, prov, times in (
            ("onnxruntime", provider, ort_times),
            ("torch eager", torch_provider, torch_times),
        ):
            row = Row(
                model=label,
                runtime=runtime,
                provider=prov,
                batch=batch,
                repeats=repeats,
                median_s=statistics.median(times),
                gflop_per_clip=round(gflop, 3),
            )
            rows.append(row)
            log(f"  {runtime:12s} batch {batch}: {row.ms_per_clip:8.1f} ms/clip, {row.gflops:6.1f} GFLOP/s")
    info = {"label": label, "gflop_per_clip": gflop, "gflop_per_clip_logits_only": gflop_logits}
    return rows, info


def run(
    plan: dict[str, tuple[tuple[int, ...], int]],
    *,
    warmup: int = 1,
    workdir: Path | None = None,
    log: Callable[[str], None] = LOG,
) -> dict[str, Any]:
    """`workdir`: where bundles are exported and kept for the next run (default: a temporary folder)."""
    from bench.environment import describe_environment

    env = describe_environment()
    rows: list[Row] = []
    models: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vtserve-bench-models-") as tmp:
        folder = workdir if workdir is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name, (batches, repeats) in plan.items():
            model_rows, info = measure_model(
                name, batches=batches, repeats=repeats, warmup=warmup, workdir=folder, log=log
            )
            rows += model_rows
            models[name] = info
    return {
        "benchmark": "models",
        "environment": {"before": env, "after": describe_environment()},
        "models": models,
        "rows": [r.as_dict() for r in rows],
    }


def parse_plan(
    models: str | None, batches: str | None, repeats: int | None
) -> dict[str, tuple[tuple[int, ...], int]]:
    names = [m for m in models.split(",") if m] if models else list(DEFAULT_PLAN)
    plan = {}
    for name in names:
        default_batches, default_repeats = DEFAULT_PLAN.get(name, DEFAULT_PLAN["auto"])
        chosen = tuple(int(b) for b in batches.split(",")) if batches else default_batches
        plan[name] = (chosen, repeats if repeats is not None else default_repeats)
    return plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        help="comma-separated: auto (shipped motion-timesformer, else its architecture with random weights), "
        "timesformer_base_8x224, any registered name (default: auto,timesformer_base_8x224)",
    )
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,2,4,8; Base 1,2)")
    parser.add_argument("--repeats", type=int, help="timed runs per batch (default 5; Base 2)")


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_models

    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    results = run(parse_plan(args.models, args.batches, args.repeats), workdir=args.out / "work" / "models")
    for path in write_models(results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
