"""The comparison's plot: what each model learned, and what it costs to serve.

Left: one group of bars per model (best top-1 first): test top-1, renderer B top-1 and within-pair
accuracy, with chance (1/11 for top-1, 1/2 within pairs) marked. Right: test top-1 against onnxruntime
latency per clip at batch 8, one point per model, labelled. Both from the rows `bench.pattern_table`
makes, so the plot, the table and `patterns.json` can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import pattern_table as table

BARS = (("top1", "test top-1"), ("renderer_b", "renderer B top-1"), ("within_pair", "within-pair"))
CHANCE = {"top1": 1 / 11, "within_pair": 0.5}


def measured_rows(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows with a measured top-1, best first: what the plot draws (empty: nothing to plot)."""
    measured = [row for row in table.section_rows(section).values() if row.get("top1") is not None]
    return sorted(measured, key=lambda row: -row["top1"])


def _bars(ax: Any, rows: list[dict[str, Any]]) -> None:
    height = 0.8 / len(BARS)
    for i, (column, label) in enumerate(BARS):
        y = [n + (i - 1) * height for n in range(len(rows))]
        ax.barh(y, [row[column] or 0.0 for row in rows], height=height, label=label)
    for column, value in CHANCE.items():
        ax.axvline(value, linestyle=":", color="grey", linewidth=1)
        ax.text(value, -1.0, f"chance ({dict(BARS)[column]})", fontsize=7, color="grey", ha="center")
    ax.set_yticks(range(len(rows)), [f"{row['name']} ({row['attention']})" for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy")
    ax.legend(loc="lower right", fontsize=8)


def _cost(ax: Any, rows: list[dict[str, Any]]) -> None:
    timed = [row for row in rows if row.get("ms_batch8") is not None]
    ax.scatter([row["ms_batch8"] for row in timed], [row["top1"] for row in timed])
    for row in timed:
        name = row["name"].removeprefix("motion-")
        ax.annotate(
            name, (row["ms_batch8"], row["top1"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.axhline(CHANCE["top1"], linestyle=":", color="grey", linewidth=1)
    ax.set_xlabel("onnxruntime ms per clip at batch 8 (one thread)")
    ax.set_ylabel("test top-1")


def plot(section: Mapping[str, Any], path: Path) -> None:
    """Write the two panels to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = measured_rows(section)
    if not rows:
        raise ValueError("no measured model in the training section: nothing to plot")
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, max(6, 0.45 * len(rows))))
    _bars(left, rows)
    _cost(right, rows)
    budget = section.get("budget", {})
    fig.suptitle(
        f"motion, one budget for all: {budget.get('steps')} steps or {budget.get('max_minutes')} min, "
        f"one core each ({section.get('status')})"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
