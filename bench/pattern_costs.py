"""What a trained comparison model costs when served: onnxruntime CPU latency and the attention outputs.

The model is exported twice into a temporary folder — the bundle the service loads (logits + attention
maps, checked against PyTorch by the export's parity check) and a logits-only graph — and both are
timed on the same random uint8 clips at batch 1 and 8, one onnxruntime thread (the comparison's one
core per model), runs of the two graphs alternating so that load from other processes hits both alike.
Reported: median and best milliseconds per clip of the served bundle and of the logits-only graph, and the
overhead of the attention outputs from the best runs (the least disturbed by other processes).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BATCHES = (1, 8)
TIME_PER_GRAPH_S = 1.5  # per batch size and graph, between MIN_REPEATS and MAX_REPEATS runs
MIN_REPEATS, MAX_REPEATS = 5, 40


def _session(bundle: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])


def _seconds(session: Any, video: Any) -> float:
    start = time.perf_counter()
    session.run(None, {"video": video})
    return time.perf_counter() - start


def time_pair(served: Any, logits_only: Any, video: Any) -> tuple[list[float], list[float]]:
    """Seconds per run of both sessions on `video`, alternating which runs first."""
    for session in (served, logits_only):
        _seconds(session, video)  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    deadline = time.perf_counter() + 2 * TIME_PER_GRAPH_S
    while len(times[0]) < MAX_REPEATS and (len(times[0]) < MIN_REPEATS or time.perf_counter() < deadline):
        first = len(times[0]) % 2
        for k in (first, 1 - first):
            times[k].append(_seconds((served, logits_only)[k], video))
    return times


def runtime_costs(model: Any, *, batches: Sequence[int] = BATCHES, threads: int = 1) -> dict[str, Any]:
    """Export `model` (with and without attention outputs) and time both graphs in onnxruntime on CPU."""
    import numpy as np

    from export.bundle import export_model

    c = model.card.input
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"threads": threads}
    with tempfile.TemporaryDirectory(prefix="vtserve-pattern-costs-") as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        manifest = export_model(model, Path(tmp) / "served", attention=True)
        export_model(model, Path(tmp) / "logits", attention=False, check_parity=False)
        out["export_seconds"] = round(time.perf_counter() - start, 1)
        out["export_cpu_seconds"] = round(time.process_time() - cpu, 1)
        parity = manifest.parity
        out["parity_passed"] = parity is not None and parity.passed
        if parity is not None:
            out["parity_max_abs_logit_diff"] = max(case.max_abs_logit_diff for case in parity.cases)
        served, logits_only = (_session(Path(tmp) / name, threads) for name in ("served", "logits"))
        for batch in batches:
            video = rng.integers(0, 256, (batch, c.num_frames, c.image_size, c.image_size, 3), dtype=np.uint8)
            with_maps, without = time_pair(served, logits_only, video)
            for name, times in (("", with_maps), ("logits_only_", without)):
                out[f"{name}ms_per_clip_batch{batch}"] = round(1000 * statistics.median(times) / batch, 3)
                out[f"{name}best_ms_per_clip_batch{batch}"] = round(1000 * min(times) / batch, 3)
            out[f"attention_overhead_batch{batch}"] = round(min(with_maps) / min(without) - 1.0, 4)
            out[f"runs_batch{batch}"] = len(with_maps)
    return out
