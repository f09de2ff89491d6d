"""What the attention outputs cost: logits-only vs with-attention latency in onnxruntime (CPU).

For each model, two bundles are exported (with and without attention) and timed on the same random
uint8 video at each batch size; runs of the two graphs alternate so that load from other processes
hits both alike. Reports median seconds per batch and the overhead (goal: ≤ 10%).

    python -m bench.attention_overhead   # motion-timesformer and TimeSformer-Base
    python -m bench.attention_overhead --models timesformer_tiny --repeats 20 --threads 0
"""

from __future__ import annotations

import argparse
import statistics
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


def measure(
    name: str, *, batches: Sequence[int], repeats: int, warmup: int, threads: int | None, workdir: Path
) -> list[Row]:
    import numpy as np

    from export.bundle import export_model

    label, model = _load(name)
    card = model.card
    sessions = {}
    for attention in (False, True):
        out = workdir / f"{name}-{'attn' if attention else 'logits'}"
        export_model(model, out, attention=attention, check_parity=False)
        sessions[attention] = _session(out, threads)
    rows = []
    rng = np.random.default_rng(0)
    for batch in batches:
        video = rng.integers(
            0, 256, (batch, card.num_frames, card.image_size, card.image_size, 3), dtype=np.uint8
        )
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
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vtserve-attn-bench-") as tmp:
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
