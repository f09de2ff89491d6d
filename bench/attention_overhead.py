"""What the attention outputs cost: logits-only vs with-attention latency in onnxruntime (CPU).

For each model, two bundles are exported (with and without attention) and timed on the same random
uint8 video at each batch size; runs of the two graphs alternate so that load from other processes
hits both alike. Reports median seconds per batch and the overhead (goal: ≤ 10%).

    python -m bench.attention_overhead   # motion-timesformer and TimeSformer-Base
    python -m bench.attention_overhead --models timesformer_tiny --repeats 20 --threads 0
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODELS = ("small", "timesformer_base_8x224")
SHIPPED_SMALL = "motion-timesformer"
FALLBACK_SMALL = "motion_timesformer"  # the same architecture and size, random weights


@dataclass(frozen=True, kw_only=True)
class Row:
    model: str
    batch: int
    logits_only_s: float
    with_attention_s: float
    repeats: int

    @property
    def overhead(self) -> float:
        return self.with_attention_s / self.logits_only_s - 1.0


def _load(name: str) -> tuple[str, Any]:
    """`small`: the shipped motion-timesformer, or its config with random weights before it is trained."""
    import models

    if name == "small":
        try:
            return SHIPPED_SMALL, models.load_pretrained(SHIPPED_SMALL)
        except Exception:  # weights not trained/shipped yet
            name = FALLBACK_SMALL
    if name in models.list_models():
        return f"{name} (random weights)", models.create_model(name)
    return name, models.load_pretrained(name)


def _session(bundle: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])


def _time_once(session: Any, video: Any) -> float:
    start = time.perf_counter()
    session.run(None, {"video": video})
    return time.perf_counter() - start


def _export(name: str, out: Path, attention: bool) -> str:
    """Export one bundle (runs in a child process, so the exporter's memory is returned afterwards)."""
    from export.bundle import export_model

    label, model = _load(name)
    export_model(model, out, attention=attention, check_parity=False)
    return label


def measure(
    name: str, *, batches: Sequence[int], repeats: int, warmup: int, threads: int | None, workdir: Path
) -> list[Row]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from export.manifest import read_manifest

    sessions = {}
    label = name
    for attention in (False, True):
        out = workdir / f"{name}-{'attn' if attention else 'logits'}"
        if (out / "model.json").is_file():  # reuse a bundle from an earlier run (--workdir)
            label = read_manifest(out).name
        else:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                label = pool.submit(_export, name, out, attention).result()
        sessions[attention] = _session(out, threads)
    manifest = read_manifest(out)
    rows = []
    rng = np.random.default_rng(0)
    for batch in batches:
        shape = (batch, manifest.input.num_frames, manifest.input.image_size, manifest.input.image_size, 3)
        video = rng.integers(0, 256, shape, dtype=np.uint8)
        for _ in range(warmup):
            for attention in (False, True):
                _time_once(sessions[attention], video)
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(repeats):
            order = (False, True) if i % 2 == 0 else (True, False)
            for attention in order:
                times[attention].append(_time_once(sessions[attention], video))
        rows.append(
            Row(
                model=label,
                batch=batch,
                logits_only_s=statistics.median(times[False]),
                with_attention_s=statistics.median(times[True]),
                repeats=repeats,
            )
        )
        print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = f"{'model':<36} {'batch':>5} {'logits-only s':>14} {'+attention s':>13} {'overhead':>9} {'n':>3}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.model:<36} {r.batch:>5} {r.logits_only_s:>14.4f} {r.with_attention_s:>13.4f}"
            f" {r.overhead:>+8.1%} {r.repeats:>3}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated names; 'small' = motion-timesformer",
    )
    parser.add_argument("--batches", default="1,8")
    parser.add_argument(
        "--repeats", type=int, default=0, help="timed runs per graph (default: 20 small, 3 Base)"
    )
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="onnxruntime intra-op threads (default 1: steadier on a busy machine; 0 = onnxruntime's choice)",
    )
    parser.add_argument(
        "--workdir", default=None, help="keep the exported bundles here and reuse them on later runs"
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        tmp = args.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="vtserve-attn-bench-"))
        for name in args.models.split(","):
            repeats = args.repeats or (3 if "base" in name or "large" in name else 20)
            rows += measure(
                name,
                batches=batches,
                repeats=repeats,
                warmup=args.warmup,
                threads=args.threads,
                workdir=Path(tmp),
            )
            print(format_table(rows[-len(batches) :]), flush=True)
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
