"""Pure helpers: latency summaries and the per-stage breakdown read from Prometheus `/metrics` text."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

STAGE_METRIC = "vtserve_stage_duration_seconds"
BATCH_METRIC = "vtserve_batch_size"
REQUEST_METRIC = "vtserve_request_duration_seconds"

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0–100) with linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Seconds."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def as_ms(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"count": self.count}
        for key, value in asdict(self).items():
            if key != "count":
                out[f"{key}_ms"] = round(value * 1000.0, 2) if math.isfinite(value) else math.nan
        return out


def summarise(latencies_s: Sequence[float]) -> LatencySummary:
    n = len(latencies_s)
    return LatencySummary(
        count=n,
        mean=sum(latencies_s) / n if n else math.nan,
        p50=percentile(latencies_s, 50),
        p95=percentile(latencies_s, 95),
        p99=percentile(latencies_s, 99),
        max=max(latencies_s) if n else math.nan,
    )


@dataclass(frozen=True, kw_only=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def parse_metrics(text: str) -> list[Sample]:
    """Prometheus text exposition → samples (comments and malformed lines are skipped)."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels = tuple(
            (k, v.replace('\\"', '"').replace("\\\\", "\\"))
            for k, v in _LABEL.findall(match.group("labels") or "")
        )
        samples.append(Sample(name=match.group("name"), labels=labels, value=value))
    return samples


def histogram_totals(
    samples: Sequence[Sample], metric: str, by: str, *, where: Mapping[str, str] | None = None
) -> dict[str, tuple[float, float]]:
    """`{label value: (sum, count)}` of histogram `metric`, grouped by label `by` (summed over the rest)."""
    totals: dict[str, list[float]] = {}
    for s in samples:
        if s.name not in (f"{metric}_sum", f"{metric}_count"):
            continue
        if where and any(s.label(k) != v for k, v in where.items()):
            continue
        key = s.label(by) if by else ""
        if key is None:
            continue
        slot = totals.setdefault(key, [0.0, 0.0])
        slot[0 if s.name.endswith("_sum") else 1] += s.value
    return {k: (v[0], v[1]) for k, v in totals.items()}


def diff_totals(
    before: Mapping[str, tuple[float, float]], after: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """What was observed between two scrapes (a label absent before counts from zero)."""
    out = {}
    for key, (total, count) in after.items():
        b_total, b_count = before.get(key, (0.0, 0.0))
        out[key] = (total - b_total, count - b_count)
    return out


def stage_breakdown(before_text: str, after_text: str, *, model: str | None = None) -> dict[str, Any]:
    """Mean milliseconds per stage, the mean batch size and the number of batches between two scrapes."""
    where = {"model": model} if model else None
    before, after = parse_metrics(before_text), parse_metrics(after_text)
    stages = diff_totals(
        histogram_totals(before, STAGE_METRIC, "stage", where=where),
        histogram_totals(after, STAGE_METRIC, "stage", where=where),
    )
    batches = diff_totals(
        histogram_totals(before, BATCH_METRIC, "", where=where),
        histogram_totals(after, BATCH_METRIC, "", where=where),
    ).get("", (0.0, 0.0))
    return {
        "stage_mean_ms": {
            stage: round(1000.0 * total / count, 2) if count > 0 else None
            for stage, (total, count) in stages.items()
        },
        "stage_count": {stage: int(count) for stage, (_total, count) in stages.items()},
        "batches": int(batches[1]),
        "mean_batch_size": round(batches[0] / batches[1], 2) if batches[1] > 0 else None,
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0 or not math.isfinite(denominator):
        return None
    return round(numerator / denominator, 3)
