"""The Grafana dashboard: it parses, every panel queries something, the issue's views are all there, and
every `vtserve_*` series and label its PromQL reads is one the service really exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import promql
from tests.deploy.conftest import (
    GRAFANA_PROVISIONING,
    dashboard_panels,
    dashboard_queries,
    load_dashboard,
    load_yaml,
)


def provisioned_datasource_uid() -> str:
    config = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    (source,) = [d for d in config["datasources"] if d["type"] == "prometheus"]
    return str(source["uid"])


def check_against(exposition: str, dashboard: dict[str, Any]) -> list[str]:
    """Problems with the dashboard's queries given one /metrics text (empty = none)."""
    series, histograms = promql.exposed_series(exposition)
    labels = promql.sample_labels(exposition)
    problems: list[str] = []

    def labels_of(name: str) -> set[str] | None:
        family = promql.family_of(name, histograms)
        seen = labels.get(name) or labels.get(family + "_count") or labels.get(family)
        if seen is None:
            return None  # declared but never observed: its labels cannot be read from this text
        extra = {"le"} if name.endswith("_bucket") else set()
        return (seen - {"le"}) | extra | promql.TARGET_LABELS

    for expr in dashboard_queries(dashboard):
        use = promql.read(expr)
        for name in sorted(use.metrics - series):
            problems.append(f"{name} is not exported (query: {expr})")
        for name, selected in use.selected.items():
            known = labels_of(name)
            if known is not None and not selected <= known:
                problems.append(f"{name} has no label(s) {sorted(selected - known)} (query: {expr})")
        for name in use.metrics & series:
            known = labels_of(name)
            if known is not None and not use.grouped <= known:
                problems.append(f"{name} cannot be grouped by {sorted(use.grouped - known)} (query: {expr})")
        for name, label in use.label_values:
            known = labels_of(name)
            if known is not None and label not in known:
                problems.append(f"label_values: {name} has no label {label!r}")
    return problems


def test_dashboard_parses_and_every_panel_has_queries() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard_panels(dashboard)
    assert len(panels) >= 8
    uid = provisioned_datasource_uid()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no queries"
        assert panel["datasource"]["uid"] == uid, panel["title"]
        ref_ids = [t["refId"] for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['title']!r} repeats a refId"
        for target in targets:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r} has an empty query"
            assert target["datasource"]["uid"] == uid
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["w"] > 0 and grid["h"] > 0, panel["title"]


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    panels = dashboard_panels(load_dashboard())
    by_title = {p["title"]: [t["expr"] for t in p["targets"]] for p in panels}
    everything = "\n".join(e for exprs in by_title.values() for e in exprs)

    def panel_with(*needles: str) -> bool:
        return any(all(n in "\n".join(exprs) for n in needles) for exprs in by_title.values())

    assert "rate(vtserve_requests_total" in everything  # request rate
    for q in ("0.5", "0.95", "0.99"):
        # overall latency and per-stage latency percentiles
        assert panel_with(f"histogram_quantile({q}", "vtserve_request_duration_seconds_bucket")
        assert panel_with(f"histogram_quantile({q}", "vtserve_stage_duration_seconds_bucket", "stage")
    assert panel_with("vtserve_batch_size")
    assert panel_with("vtserve_queue_depth")
    assert panel_with("vtserve_request_errors_total", "by (code)")  # error rate by code
    assert panel_with("vtserve_decode_failures_total")


def test_dashboard_reads_only_metrics_the_metrics_module_registers() -> None:
    """Against every family `service.metrics.Metrics` registers, each with one child so labels show."""
    metrics_module = pytest.importorskip("service.metrics")
    from prometheus_client.metrics import MetricWrapperBase

    metrics = metrics_module.Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(**{name: "x" for name in metric._labelnames})
    exposition = metrics.render().decode()
    assert check_against(exposition, load_dashboard()) == []


def test_dashboard_check_catches_a_wrong_name_and_a_wrong_label() -> None:
    """The check above is not vacuous: a renamed metric and a label the metric lacks are both reported."""
    metrics_module = pytest.importorskip("service.metrics")
    metrics = metrics_module.Metrics()
    metrics.requests.labels(model="m", status="200").inc()
    exposition = metrics.render().decode()
    broken = {
        "panels": [
            {
                "type": "timeseries",
                "title": "t",
                "targets": [
                    {"expr": "sum(rate(vtserve_request_total[5m]))"},
                    {"expr": 'sum by (stage) (rate(vtserve_requests_total{code="x"}[5m]))'},
                ],
            }
        ]
    }
    problems = check_against(exposition, broken)
    assert any("vtserve_request_total is not exported" in p for p in problems)
    assert any("no label(s) ['code']" in p for p in problems)
    assert any("grouped by ['stage']" in p for p in problems)


@pytest.mark.integration
@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not on PATH (Debian: apt-get install prometheus)"
)
def test_dashboard_promql_parses_with_promtool(tmp_path: Path) -> None:
    """Each query, with Grafana's variables filled in, as a recording rule that `promtool` must accept."""
    import json

    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": promql.to_prometheus(expr)}
                    for i, expr in enumerate(dashboard_queries(load_dashboard()))
                    if not expr.startswith("label_values(")
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    proc = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
