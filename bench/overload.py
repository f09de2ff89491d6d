"""Goodput under overload: a real `vtserve serve` driven by closed-loop clients, 1 → 256, past its knee.

Every level runs `clients` closed-loop HTTP clients (`bench.loadgen`: each posts the next clip of the e2e
mix as soon as its previous answer arrives, 503s included, with no back-off: the harshest closed loop) for
`duration_s` against one server process on the shipped model. Per level it records goodput (200 answers
per second), rejects per second (503s), other answers, the accepted requests' latency, the refusals'
latency, and the CPU seconds the server's process tree and the load generator spent per second.

The knee is the fewest clients reaching 95% of the peak goodput. The goals (issue 21) at the top level, at
least 10× the knee's clients: goodput ≥ 90% of the peak, accepted p99 ≤ 1.5× the knee's p99.

    vtserve bench overload --clients 1,4,16,64,200 --duration 15
    python -m bench.overload --clients 16,200 --duration 10 --server-env VTSERVE_MAX_QUEUE=64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.bundles import PreparedModel, prepare
from bench.clips import GENERATED, SMOKE_GENERATED, Clip, clip_mix, describe
from bench.environment import describe_environment, load_average
from bench.loadgen import LoadResult, drive, scrape, warm_up
from bench.server import RunningServer, children_of, free_port, serve, vtserve_command
from bench.stats import ratio, stage_breakdown, summarise

DEFAULT_CLIENTS = (1, 4, 16, 64, 256)
KNEE_FRACTION = 0.95
GOAL_GOODPUT = 0.90
GOAL_P99 = 1.5
LOG = partial(print, flush=True)
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(children_of(current))
    return total / TICKS


def level_summary(result: LoadResult, *, server_cpu_s: float, client_cpu_s: float) -> dict[str, Any]:
    """Goodput, rejects, accepted and refused latency, and CPU per second, for one level."""
    seconds = result.duration_s
    statuses = Counter(o.status for o in result.outcomes)
    refused = [o.latency_s for o in result.outcomes if o.status == 503]
    return {
        "clients": result.concurrency,
        "duration_s": round(seconds, 2),
        "requests": len(result.outcomes),
        "goodput": round(statuses[200] / seconds, 2),
        "rejects_per_s": round(statuses[503] / seconds, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "other_answers": sum(v for k, v in statuses.items() if k not in (200, 503)),
        "accepted": summarise([o.latency_s for o in result.ok]).as_ms(),
        "refused": summarise(refused).as_ms(),
        "server_cpu_per_s": round(server_cpu_s / seconds, 3),
        "client_cpu_per_s": round(client_cpu_s / seconds, 3),
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(len(result.outcomes), 1), 2),
    }


async def _level(server: RunningServer, url: str, clips: Sequence[Clip], clients: int, seconds: float) -> Any:
    pid = server.process.pid
    before = await scrape(server.base_url)
    cpu0, own0, load0 = tree_cpu_s(pid), time.process_time(), load_average()
    result = await drive(url, clips, concurrency=clients, duration_s=seconds)
    cpu1, own1 = tree_cpu_s(pid), time.process_time()
    row = level_summary(result, server_cpu_s=cpu1 - cpu0, client_cpu_s=own1 - own0)
    row["load_average_1m"] = [load0, load_average()]
    row["breakdown"] = stage_breakdown(before, await scrape(server.base_url))
    return row


async def _sweep(
    server: RunningServer, clips: Sequence[Clip], clients: Sequence[int], seconds: float, log: Any
) -> list[dict[str, Any]]:
    url = server.base_url + "/v1/predictions"
    statuses = await warm_up(url, clips)
    if any(s != 200 for s in statuses):
        log(f"  warm-up answers: {dict(Counter(statuses))}")
    rows = []
    for count in clients:
        row = await _level(server, url, clips, count, seconds)
        acc = row["accepted"]
        log(
            f"  {count:>4} clients: goodput {row['goodput']:6.2f}/s, rejects {row['rejects_per_s']:7.1f}/s, "
            f"accepted p50 {acc['p50_ms']} ms p99 {acc['p99_ms']} ms, other {row['other_answers']}, "
            f"server CPU {row['server_cpu_per_s']:.2f} s/s, client CPU {row['client_cpu_per_s']:.2f} s/s"
        )
        rows.append(row)
    return rows


def goals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Peak, knee and the issue's two ratios at the top level."""
    if not rows:
        return {}
    peak = max(r["goodput"] for r in rows)
    knee = next(r for r in rows if r["goodput"] >= KNEE_FRACTION * peak)
    top = max(rows, key=lambda r: r["clients"])
    goodput_share = ratio(top["goodput"], peak)
    p99_ratio = ratio(top["accepted"]["p99_ms"], knee["accepted"]["p99_ms"])
    return {
        "peak_goodput": peak,
        "knee_clients": knee["clients"],
        "knee_p99_ms": knee["accepted"]["p99_ms"],
        "top_clients": top["clients"],
        "top_over_knee": round(top["clients"] / knee["clients"], 1),
        "goodput_share_at_top": {
            "goal": f">= {GOAL_GOODPUT:.0%}",
            "value": goodput_share,
            "met": goodput_share is not None and goodput_share >= GOAL_GOODPUT,
        },
        "p99_over_knee_at_top": {
            "goal": f"<= {GOAL_P99}x",
            "value": p99_ratio,
            "met": p99_ratio is not None and p99_ratio <= GOAL_P99,
        },
        "only_200_and_503": all(r["other_answers"] == 0 for r in rows),
    }


def server_env(prepared: PreparedModel, work_dir: Path, overrides: dict[str, str]) -> dict[str, str]:
    env = {
        "VTSERVE_MODEL_REPOSITORY": str(prepared.repository),
        "VTSERVE_MODELS": prepared.name,
        "VTSERVE_CACHE_DIR": str(work_dir / "cache"),
        "VTSERVE_LOG_LEVEL": "warning",
        "VTSERVE_WEB_UI": "false",
        **overrides,
    }
    env.pop("VTSERVE_CONFIG", None)
    return env


def run(
    *,
    model: str = "auto",
    clients: Sequence[int] = DEFAULT_CLIENTS,
    duration_s: float = 15.0,
    out_dir: Path,
    smoke: bool = False,
    overrides: dict[str, str] | None = None,
    log: Any = LOG,
) -> dict[str, Any]:
    """The sweep against one `vtserve serve` process; returns the results document."""
    work_dir = (out_dir / "work").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started, env_before = time.time(), describe_environment()
    prepared = prepare(model, work_dir)
    clips = clip_mix(generated=SMOKE_GENERATED if smoke else GENERATED)
    env = server_env(prepared, work_dir, overrides or {})
    log(f"{prepared.label}, {len(clips)} clips, levels {list(clients)}, {duration_s:g} s each")
    port = free_port()
    log_path = work_dir / "vtserve-overload.log"
    with serve(vtserve_command(port), port=port, ready_path="/readyz", log_path=log_path, env=env) as s:
        rows = asyncio.run(_sweep(s, clips, clients, duration_s, log))
    return {
        "benchmark": "overload",
        "started_unix": round(started),
        "elapsed_s": round(time.time() - started, 1),
        "environment": {"before": env_before, "after": describe_environment()},
        "model": {"name": prepared.name, "label": prepared.label},
        "server_settings": {k: v for k, v in env.items() if k.startswith("VTSERVE_") and "DIR" not in k},
        "clips": describe(clips),
        "duration_s": duration_s,
        "levels": rows,
        "goals": goals(rows),
    }


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--clients", default=",".join(map(str, DEFAULT_CLIENTS)), help="client counts")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="VTSERVE_NAME=VALUE",
        help="a setting for the server under test (repeatable), e.g. VTSERVE_MAX_QUEUE=64",
    )


def parse_clients(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or min(values) < 1:
        raise ValueError(f"--clients needs positive integers, got {text!r}")
    return values


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("VTSERVE_"):
            raise ValueError(f"--server-env takes VTSERVE_NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def run_args(args: argparse.Namespace) -> dict[str, Any]:
    return run(
        model=args.model,
        clients=parse_clients(args.clients),
        duration_s=args.duration,
        out_dir=args.out,
        smoke=args.smoke,
        overrides=parse_env(args.server_env),
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.overload_report import write_overload

    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--model", default="auto", help="auto (the shipped motion-timesformer) or a name")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per level")
    parser.add_argument("--smoke", action="store_true", help="one small generated clip instead of the mix")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    for path in write_overload(run_args(args), args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
