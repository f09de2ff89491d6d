"""`vtserve bench overload`'s pure parts: a level's summary, the knee and goals, and process-tree CPU."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any

import pytest

from bench.loadgen import LoadResult, Outcome
from bench.overload import goals, level_summary, parse_env, tree_cpu_s
from bench.server import children_of


def _row(clients: int, goodput: float, p99_ms: float, other: int = 0) -> dict[str, Any]:
    return {"clients": clients, "goodput": goodput, "accepted": {"p99_ms": p99_ms}, "other_answers": other}


def test_a_level_counts_goodput_rejects_and_both_latencies() -> None:
    outcomes = [Outcome(clip="a", status=200, latency_s=0.5, finished_at=1.0)] * 20
    outcomes += [Outcome(clip="a", status=503, latency_s=0.002, finished_at=1.0)] * 100
    outcomes += [Outcome(clip="a", status=0, latency_s=1.0, finished_at=1.0)]
    row = level_summary(
        LoadResult(concurrency=8, duration_s=10.0, outcomes=outcomes), server_cpu_s=5.0, client_cpu_s=2.0
    )
    assert (row["goodput"], row["rejects_per_s"], row["other_answers"]) == (2.0, 10.0, 1)
    assert row["accepted"]["p99_ms"] == 500.0 and row["refused"]["p50_ms"] == 2.0
    assert (row["server_cpu_per_s"], row["client_cpu_per_s"]) == (0.5, 0.2)


def test_the_knee_is_the_fewest_clients_near_the_peak_and_the_goals_are_read_at_the_top() -> None:
    rows = [_row(1, 10, 100), _row(4, 29, 300), _row(16, 30, 400), _row(64, 28, 500), _row(200, 27.5, 590)]
    g = goals(rows)
    assert (g["peak_goodput"], g["knee_clients"], g["knee_p99_ms"], g["top_over_knee"]) == (30, 4, 300, 50.0)
    assert g["goodput_share_at_top"] == {"goal": ">= 90%", "value": 0.917, "met": True}
    assert g["p99_over_knee_at_top"]["value"] == 1.967 and not g["p99_over_knee_at_top"]["met"]
    assert g["only_200_and_503"]
    assert not goals([*rows[:-1], _row(200, 27.5, 400, other=3)])["only_200_and_503"]


def test_server_settings_are_vtserve_variables_only() -> None:
    assert parse_env(["VTSERVE_MAX_IN_FLIGHT=8"]) == {"VTSERVE_MAX_IN_FLIGHT": "8"}
    with pytest.raises(ValueError):
        parse_env(["PATH=/tmp"])


def test_children_started_from_another_thread_are_in_the_tree() -> None:
    """The decoder pool's forkserver is started from a worker thread; /proc lists it under that thread."""
    started: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: started.append(subprocess.Popen(["sleep", "30"])))
    thread.start()
    thread.join()
    try:
        assert started[0].pid in children_of(os.getpid())
        assert tree_cpu_s(os.getpid()) > 0
    finally:
        started[0].kill()
        started[0].wait()
