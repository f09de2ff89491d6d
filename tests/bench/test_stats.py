"""The harness's pure pieces: latency summaries, the /metrics parser, the stage breakdown, ratios."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench.stats import (
    histogram_totals,
    parse_metrics,
    percentile,
    ratio,
    stage_breakdown,
    summarise,
)
from service.metrics import Metrics


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summarise_reports_milliseconds() -> None:
    summary = summarise([0.1] * 98 + [1.0, 2.0])
    assert summary.count == 100
    assert summary.p50 == pytest.approx(0.1)
    assert summary.max == 2.0
    ms = summary.as_ms()
    assert ms["count"] == 100
    assert ms["p50_ms"] == pytest.approx(100.0)
    assert ms["max_ms"] == pytest.approx(2000.0)
    assert summarise([]).as_ms()["count"] == 0


def test_parse_metrics_reads_labels_and_skips_comments() -> None:
    text = (
        "# HELP x help\n# TYPE x counter\n"
        'x_total{model="a",status="200"} 3.0\n'
        'y{path="with \\"quote\\""} 1e3\n'
        "garbage line\n"
        "z 2\n"
    )
    samples = parse_metrics(text)
    assert [s.name for s in samples] == ["x_total", "y", "z"]
    assert samples[0].label("status") == "200"
    assert samples[1].label("path") == 'with "quote"'
    assert samples[1].value == 1000.0


def _render(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_stage_breakdown_from_real_service_metrics() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.observe_stage("m", "decode", 1.0)
    metrics.batch_size.labels(model="m").observe(1)
    before = _render(metrics)
    for _ in range(4):
        metrics.observe_stage("m", "decode", 0.02)
        metrics.observe_stage("m", "inference", 0.01)
        metrics.observe_stage("other", "decode", 5.0)
    metrics.batch_size.labels(model="m").observe(4)
    metrics.batch_size.labels(model="m").observe(2)
    after = _render(metrics)

    totals = histogram_totals(
        parse_metrics(after), "vtserve_stage_duration_seconds", "stage", where={"model": "m"}
    )
    assert totals["decode"] == (pytest.approx(1.08), 5.0)

    breakdown = stage_breakdown(before, after, model="m")
    assert breakdown["stage_mean_ms"]["decode"] == pytest.approx(20.0)
    assert breakdown["stage_mean_ms"]["inference"] == pytest.approx(10.0)
    assert breakdown["stage_count"]["decode"] == 4
    assert breakdown["batches"] == 2
    assert breakdown["mean_batch_size"] == pytest.approx(3.0)


def test_ratio_handles_missing_values() -> None:
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0.0) is None
    assert ratio(1.0, math.nan) is None
