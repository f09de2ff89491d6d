"""Just enough PromQL reading for the dashboard checks: metric names, selectors and grouping labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

METRIC = re.compile(r"\b(vtserve_[A-Za-z0-9_]+)\b")
SELECTOR = re.compile(r"\b(vtserve_[A-Za-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(vtserve_[A-Za-z0-9_]+)[^,]*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# What Prometheus itself adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})


@dataclass(frozen=True)
class QueryUse:
    metrics: frozenset[str]  # every vtserve_* series name the query reads
    selected: dict[str, frozenset[str]]  # metric -> labels named in its {...} selector
    grouped: frozenset[str]  # labels in by (...) / without (...) clauses
    label_values: tuple[tuple[str, str], ...]  # (metric, label) pairs of Grafana's label_values()


def read(expr: str) -> QueryUse:
    selected: dict[str, set[str]] = {}
    for metric, body in SELECTOR.findall(expr):
        selected.setdefault(metric, set()).update(name for name, _op in MATCHER.findall(body))
    grouped = {
        label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()
    }
    return QueryUse(
        metrics=frozenset(METRIC.findall(expr)),
        selected={k: frozenset(v) for k, v in selected.items()},
        grouped=frozenset(grouped),
        label_values=tuple(LABEL_VALUES.findall(expr)),
    )


def family_of(series: str, histograms: set[str]) -> str:
    """The metric family a series name belongs to (`x_bucket` → `x` for histograms)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if series.endswith(suffix) and series[: -len(suffix)] in histograms:
            return series[: -len(suffix)]
    return series


def exposed_series(exposition: str) -> tuple[set[str], set[str]]:
    """(series names a scrape of this /metrics text can yield, histogram family names).

    Declared families count even before their first observation: a labelled metric has HELP/TYPE lines but
    no samples until a child exists, and Prometheus will see its series as soon as one does.
    """
    names: set[str] = set()
    histograms: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            if kind.strip() == "histogram":
                histograms.add(name)
                names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names, histograms


def sample_labels(exposition: str) -> dict[str, set[str]]:
    """Series name -> label names seen on its samples in this /metrics text."""
    out: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s", line)
        if match:
            labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', match.group(2) or ""))
            out.setdefault(match.group(1), set()).update(labels)
    return out


def to_prometheus(expr: str) -> str:
    """Replace Grafana's variables so that promtool can parse the expression."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$model", ".*")
    )
