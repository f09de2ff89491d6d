"""`vtserve bench overload` results to files: JSON, a markdown table and a plot (goodput, rejects, p99)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import markdown_table, write_json


def overload_markdown(results: dict[str, Any]) -> str:
    env, after = results["environment"]["before"], results["environment"]["after"]
    g = results["goals"]
    rows = [
        [
            r["clients"],
            r["goodput"],
            r["rejects_per_s"],
            r["accepted"]["p50_ms"],
            r["accepted"]["p99_ms"],
            r["refused"]["p50_ms"],
            r["other_answers"],
            r["server_cpu_per_s"],
            r["client_cpu_per_s"],
            r["breakdown"].get("mean_batch_size"),
        ]
        for r in results["levels"]
    ]
    table = markdown_table(
        [
            "clients",
            "goodput clips/s",
            "503/s",
            "accepted p50 ms",
            "accepted p99 ms",
            "503 p50 ms",
            "other answers",
            "server CPU s/s",
            "client CPU s/s",
            "mean batch",
        ],
        rows,
    )
    share, p99 = g["goodput_share_at_top"], g["p99_over_knee_at_top"]
    return "\n".join(
        [
            f"### Overload: {results['model']['label']}",
            "",
            f"{env['time_utc']} UTC, {env['host_cpus']} CPUs ({env['cpu_model']}), "
            f"commit {env['git_commit']}, "
            f"load average {env['load_average'][0]} before / {after['load_average'][0]} after; "
            f"{results['duration_s']:g} s per level, closed loop with no back-off, server settings "
            f"{results['server_settings']}.",
            "",
            table,
            "",
            f"Peak goodput {g['peak_goodput']} clips/s; knee at {g['knee_clients']} clients "
            f"(p99 {g['knee_p99_ms']} ms). At {g['top_clients']} clients ({g['top_over_knee']}× the knee): "
            f"goodput {share['value']} of peak (goal {share['goal']}: "
            f"{'met' if share['met'] else 'not met'}), "
            f"accepted p99 {p99['value']}× the knee's (goal {p99['goal']}: "
            f"{'met' if p99['met'] else 'not met'}); only 200/503 answers: {g['only_200_and_503']}.",
            "",
        ]
    )


def overload_plot(results: dict[str, Any], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = results["levels"]
    clients = [r["clients"] for r in levels]
    fig, (ax_g, ax_p) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax_g.plot(clients, [r["goodput"] for r in levels], "o-", label="goodput (200/s)")
    ax_g.axhline(0.9 * results["goals"]["peak_goodput"], color="grey", ls=":", label="90% of peak")
    ax_g.set_xscale("log")
    ax_g.set_xlabel("closed-loop clients")
    ax_g.set_ylabel("clips/s")
    ax_r = ax_g.twinx()
    ax_r.plot(clients, [r["rejects_per_s"] for r in levels], "s--", color="tab:red", label="rejects (503/s)")
    ax_r.set_ylabel("503/s", color="tab:red")
    ax_g.legend(loc="upper left")
    ax_r.legend(loc="lower right")
    ax_g.set_title("goodput and rejects")
    ax_p.plot(clients, [r["accepted"]["p99_ms"] for r in levels], "o-", label="accepted p99")
    ax_p.plot(clients, [r["accepted"]["p50_ms"] for r in levels], "o-", label="accepted p50")
    knee_p99 = results["goals"]["knee_p99_ms"]
    ax_p.axhline(1.5 * knee_p99, color="grey", ls=":", label="1.5× knee p99")
    ax_p.set_xscale("log")
    ax_p.set_xlabel("closed-loop clients")
    ax_p.set_ylabel("ms")
    ax_p.legend()
    ax_p.set_title("accepted requests' latency")
    fig.suptitle(f"vtserve under overload: {results['model']['label']}")
    fig.tight_layout()
    path = out_dir / "overload.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_overload(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "overload.md"
    md.write_text(overload_markdown(results))
    return [write_json(results, out_dir / "overload.json"), md, overload_plot(results, out_dir)]
