"""The comparison's table: one row per model from the training section of bench/results/patterns.json.

`table_rows` picks the columns out of the plan (parameters, GFLOPs) and each model's measured results
(`models.demo.evaluate` and `bench.pattern_costs`); `markdown` renders them for the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: column → (header, format); None values are shown as "–".
COLUMNS: dict[str, tuple[str, str]] = {
    "attention": ("`attention`", "`{}`"),
    "depth": ("depth", "{}"),
    "parameters_k": ("params (k)", "{:.0f}"),
    "gflops_per_clip": ("GFLOPs / clip", "{:.3f}"),
    "top1": ("top-1", "{:.3f}"),
    "reversal_to_partner": ("reversal → partner", "{:.3f}"),
    "within_pair": ("within-pair", "{:.3f}"),
    "h264": ("H.264 (v2 uploads)", "{:.3f}"),
    "h264_issue9": ("H.264 (issue 9)", "{:.3f}"),
    "renderer_b": ("renderer B", "{:.3f}"),
    "ms_batch1": ("ms / clip, batch 1", "{:.2f}"),
    "ms_batch8": ("ms / clip, batch 8", "{:.2f}"),
    "attention_overhead_batch1": ("attention outputs, batch 1", "{:+.1%}"),
    "attention_overhead_batch8": ("attention outputs, batch 8", "{:+.1%}"),
    "steps": ("steps", "{}"),
}


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def table_row(plan: Mapping[str, Any], measured: Mapping[str, Any] | None) -> dict[str, Any]:
    """The table's columns for one model: `plan` from `pattern_training.plan`, `measured` the child's
    result (`results`: the evaluation and onnxruntime costs; `training`: steps and minutes)."""
    results = _get(measured, "results")
    ort = _get(results, "onnxruntime")
    return {
        "name": plan["name"],
        "attention": plan["attention"],
        "depth": plan["depth"],
        "parameters": plan["parameters"],
        "parameters_k": plan["parameters"] / 1000,
        "gflops_per_clip": plan["gflops_per_clip"],
        "top1": _get(results, "test_v2", "accuracy"),
        "test_clips": _get(results, "test_v2", "clips"),
        "reversal_to_partner": _get(results, "test_v2", "reversal_to_partner"),
        "within_pair": _get(results, "test_v2", "within_pair_accuracy"),
        "h264": _get(results, "encoded_v2", "accuracy"),
        "h264_crf_33_43": _get(results, "encoded_v2", "crf_33_43"),
        "h264_issue9": _get(results, "encoded", "accuracy"),
        "issue9_top1": _get(results, "test", "accuracy"),
        "renderer_b": _get(results, "renderer_b", "accuracy"),
        "attention_inside_object_ratio": _get(results, "attention", "moving", "ratio"),
        "ms_batch1": _get(ort, "ms_per_clip_batch1"),
        "ms_batch8": _get(ort, "ms_per_clip_batch8"),
        "attention_overhead_batch1": _get(ort, "attention_overhead_batch1"),
        "attention_overhead_batch8": _get(ort, "attention_overhead_batch8"),
        "steps": _get(measured, "training", "steps"),
        "train_minutes": _get(measured, "training", "train_minutes"),
        "error": _get(measured, "error"),
    }


def table_rows(section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every planned model's row (measured columns None where nothing was measured)."""
    results = section.get("results", {})
    return {key: table_row(plan, results.get(key)) for key, plan in section["models"].items()}


def section_rows(section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows a training run recorded (`section["table"]`), else made from its plan and results."""
    return dict(section.get("table") or table_rows(section))


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def markdown(section: Mapping[str, Any]) -> str:
    """The README table, best top-1 first, with a line stating the budget."""
    rows = section_rows(section)
    ordered = sorted(rows.items(), key=lambda kv: -(kv[1]["top1"] if kv[1]["top1"] is not None else -1))
    header = ["model", *(title for title, _ in COLUMNS.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for _key, row in ordered:
        cells = [f"`{row['name']}`", *(_cell(row[col], fmt) for col, (_, fmt) in COLUMNS.items())]
        lines.append("| " + " | ".join(cells) + " |")
    budget = section.get("budget", {})
    facts = ", ".join(f"{k} {v}" for k, v in budget.items())
    return "\n".join([f"Status: {section.get('status')}; budget: {facts}.", "", *lines]) + "\n"
