"""How fast `motion` training data is made on one core.

    python -m models.demo.speed                 # ~10 s per measure
    python -m models.demo.speed --seconds 30 --pool-root /tmp/pool

Measures, one process, one thread: clips/s of the issue-9 renderer and of the v2 generator at 32 and
64 px; H.264 pool items/s (a whole upload rendered, encoded with libx264, decoded, sampled and resized to
32 and 64 px: what `--h264-items` costs once); and training batches/s of `paired_batch` (16 clips plus
their reversals, the default mix, pool items read from memory) at 32 and 64 px.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.demo import generator, motion
from models.demo.data import paired_batch
from models.demo.h264 import Pool, PoolSpec, build_item, load_pool


def rate(work: Callable[[int], object], seconds: float) -> float:
    """Calls of `work(i)` per second over about `seconds` (at least 3 calls)."""
    t0, i = time.perf_counter(), 0
    while i < 3 or time.perf_counter() - t0 < seconds:
        work(i)
        i += 1
    return i / (time.perf_counter() - t0)


def measure(seconds: float, pool_root: Path) -> dict[str, float]:
    g = np.random.default_rng(0)
    out: dict[str, float] = {}
    out["issue9_clips_per_s_32"] = rate(lambda i: motion.render_clip(i % 11, g), seconds)
    out["v2_clips_per_s_32"] = rate(lambda i: generator.render_clip(i % 11, g, size=32), seconds)
    out["v2_clips_per_s_64"] = rate(lambda i: generator.render_clip(i % 11, g, size=64), seconds)
    spec = PoolSpec(seed=123)
    out["h264_items_per_s"] = rate(lambda i: build_item(spec, i), seconds)
    for size in (32, 64):
        pool = load_pool(PoolSpec(sizes=(size,), shard=8, seed=321), 8, size, pool_root)

        def batch(i: int, size: int = size, pool: Pool = pool) -> object:
            return paired_batch(
                0, i, 32, num_frames=8, size=size, max_difficulty=1.0, patch=size // 4, pool=pool
            )

        out[f"batches_per_s_{size}"] = rate(batch, seconds)
    return {k: round(v, 2) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="how fast motion training data is made on one core")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measure")
    parser.add_argument("--pool-root", type=Path, help="where the small pools for the batch measure go")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.seconds, args.pool_root or Path(tmp))
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
