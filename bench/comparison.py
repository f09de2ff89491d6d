"""The e2e run's verdict: vtserve's throughput and p99 against the naive baseline and the peer per client
count, its share of the pipeline limit, and the goals (issue 21: at least 1.5x the best real peer at the
top client count, with a lower p99; the baseline and pipeline-limit goals of the first round).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.stats import ratio

GOAL_THROUGHPUT_RATIO = 3.0
GOAL_LIMIT_FRACTION = 0.85
GOAL_PEER_RATIO = 1.5


def ratios(
    vtserve: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], who: str
) -> list[dict[str, Any]]:
    """vtserve's clips/s and p99 over `other`'s, per client count both reached."""
    by_c = {row["concurrency"]: row for row in other}
    out = []
    for row in vtserve:
        base = by_c.get(row["concurrency"])
        if base is None:
            continue
        entry = {
            "concurrency": row["concurrency"],
            "throughput_ratio": ratio(row["clips_per_s"], base["clips_per_s"]),
            "p99_ratio": ratio(row["latency"]["p99_ms"], base["latency"]["p99_ms"]),
        }
        notes = [f"{name} {r['killed']}" for name, r in (("vtserve", row), (who, base)) if r.get("killed")]
        if notes:
            entry["note"] = "; ".join(notes) + " (ratios from the answers received before)"
        out.append(entry)
    return out


def _goals(top: dict[str, Any] | None, name: str, target: float) -> dict[str, dict[str, Any]]:
    """Throughput at least `target`× and a lower p99 than the server compared with, at the top level."""
    throughput = top["throughput_ratio"] if top else None
    p99 = top["p99_ratio"] if top else None
    return {
        f"throughput_ratio_vs_{name}_at_top_concurrency": {
            "goal": f">= {target}x",
            "value": throughput,
            "met": bool(throughput is not None and throughput >= target),
        },
        f"p99_lower_than_{name}_at_top_concurrency": {
            "goal": f"vtserve p99 < {name} p99",
            "value": p99,
            "met": bool(p99 is not None and p99 < 1.0),
        },
    }


def compare(
    vtserve: Sequence[dict[str, Any]],
    baseline: Sequence[dict[str, Any]],
    limit: dict[str, Any] | None,
    peer: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Ratios per concurrency against the baseline and the peer, the share of the pipeline limit, goals."""
    top = max(vtserve, key=lambda r: r["concurrency"]) if vtserve else None
    fraction = ratio(top["clips_per_s"], limit["clips_per_s"]) if top and limit else None
    found: dict[str, list[dict[str, Any]]] = {}
    goals: dict[str, dict[str, Any]] = {}
    for name, rows, target in (
        ("baseline", baseline, GOAL_THROUGHPUT_RATIO),
        ("litserve", peer, GOAL_PEER_RATIO),
    ):
        if not rows:
            continue
        found[name] = ratios(vtserve, rows, name)
        at_top = next((r for r in found[name] if top and r["concurrency"] == top["concurrency"]), None)
        goals |= _goals(at_top, name, target)
    goals["service_fraction_of_pipeline_limit"] = {
        "goal": f">= {GOAL_LIMIT_FRACTION:.0%}",
        "value": fraction,
        "met": bool(fraction is not None and fraction >= GOAL_LIMIT_FRACTION),
    }
    return {
        "ratios": found.get("baseline", []),
        "peer_ratios": found.get("litserve", []),
        "service_fraction_of_limit": fraction,
        "goals": goals,
    }
