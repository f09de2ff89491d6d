"""The raw pipeline limit: the service's own `Predictor` driven in-process, no HTTP.

The same components `vtserve serve` builds (`DecoderPool` from `service.app.default_decoder`, the model
through `service.loading.load_model`: bundle → runtime → warm-up → dynamic batcher, both behind a
`service.pipeline.Predictor`), the same settings and the same clips; `concurrency` coroutines each run
`Predictor.run` on a clip (decode in the pool, batch, infer, postprocess), back to back, for `duration_s`.
Its throughput is the ceiling the service is measured against: what is lost over it is the cost of HTTP,
multipart parsing, JSON and the event loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clips import Clip
from bench.overload import tree_cpu_s
from bench.stats import summarise

# A client past the admission limit waits for a slot (the service's waiting line, unbounded here), as
# an HTTP client does when the service's `admission_wait_ms` is long enough: driving the pipeline's
# limit needs every client's clip in it, not refusals.
SLOT_WAIT_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class LimitResult:
    concurrency: int
    duration_s: float
    ok: int
    errors: dict[str, int]
    latencies_s: list[float]
    mean_batch_size: float | None
    cpu_s: float | None = None  # CPU seconds of this process and its decoder workers while driving

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 2),
            "ok": self.ok,
            "clips_per_s": round(self.ok / self.duration_s, 3) if self.duration_s > 0 else 0.0,
            "latency": summarise(self.latencies_s).as_ms(),
            "errors": self.errors,
            "mean_batch_size": self.mean_batch_size,
            "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 2),
        }


async def _worker(
    predictor: Any,
    model: Any,
    clips: Sequence[Clip],
    offset: int,
    deadline: float,
    latencies: list[float],
    errors: Counter[str],
) -> None:
    i = offset
    while time.perf_counter() < deadline:
        clip = clips[i % len(clips)]
        i += 1
        t0 = time.perf_counter()
        try:
            slot = await predictor.admission.acquire_within(model.name, SLOT_WAIT_S)
            try:
                await predictor.run(model, clip.data)
            finally:
                slot.release()
        except Exception as exc:
            errors[getattr(exc, "code", type(exc).__name__)] += 1
            continue
        latencies.append(time.perf_counter() - t0)


def _batches(predictor: Any, model: str) -> tuple[float, float]:
    """(clips, batches) the model's batcher has run so far, from its `vtserve_batch_size` histogram."""
    registry = predictor.metrics.registry
    labels = {"model": model}
    clips = registry.get_sample_value("vtserve_batch_size_sum", labels) or 0.0
    return clips, registry.get_sample_value("vtserve_batch_size_count", labels) or 0.0


async def _drive(
    predictor: Any, model: Any, clips: Sequence[Clip], concurrency: int, duration_s: float
) -> LimitResult:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    before = _batches(predictor, model.name)
    cpu0 = tree_cpu_s(os.getpid())
    start = time.perf_counter()
    deadline = start + duration_s
    await asyncio.gather(
        *(
            _worker(predictor, model, clips, (k * len(clips)) // concurrency, deadline, latencies, errors)
            for k in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - start
    cpu_s = tree_cpu_s(os.getpid()) - cpu0
    after = _batches(predictor, model.name)
    batches = after[1] - before[1]
    return LimitResult(
        concurrency=concurrency,
        duration_s=elapsed,
        ok=len(latencies),
        errors=dict(errors),
        latencies_s=latencies,
        mean_batch_size=round((after[0] - before[0]) / batches, 2) if batches else None,
        cpu_s=cpu_s,
    )


def measure(
    repository: Path,
    model_name: str,
    clips: Sequence[Clip],
    *,
    concurrency: Sequence[int] = (16,),
    duration_s: float = 20.0,
    settings_overrides: dict[str, Any] | None = None,
    warmup_rounds: int = 1,
) -> list[LimitResult]:
    """Build pool, model and `Predictor` from `Settings` as the service does, warm up on every clip, then
    drive."""
    from service.admission import admission_limit
    from service.app import default_decoder
    from service.bundles import resolve_bundle
    from service.loaded_models import LoadedModels
    from service.loading import load_model
    from service.metrics import Metrics
    from service.pipeline import Predictor
    from service.settings import Settings

    settings = Settings(
        model_repository=repository, models=[model_name], log_level="warning", **(settings_overrides or {})
    )
    metrics = Metrics()
    pool = default_decoder(settings)
    model = load_model(
        model_name, resolve_bundle(model_name, settings, allow_export=False), settings, metrics
    )
    predictor = Predictor(
        LoadedModels([model], model.name),
        pool,
        metrics=metrics,
        max_in_progress=admission_limit(settings),
        max_waiting=max(concurrency),
    )
    try:
        for _ in range(warmup_rounds):
            asyncio.run(_drive(predictor, model, clips, 1, 0.001))
            for clip in clips:
                model.batcher.submit(pool.decode_blocking(clip.data, model.decode_request).frames).result()
        return [asyncio.run(_drive(predictor, model, clips, c, duration_s)) for c in concurrency]
    finally:
        model.batcher.close(drain=True, timeout_s=30.0)
        model.runtime.close()
        pool.close()
