"""End-to-end: vtserve vs the naive baseline vs the raw pipeline limit, on the same weights and clips.

1. Prepare the model (shipped `motion-timesformer` when present, else its architecture with random
   weights): a checkpoint folder for the baseline and a bundle repository for vtserve, same weights.
2. Start `vtserve serve` in a subprocess (env `VTSERVE_*` pointing at the repository), wait for /readyz,
   warm up on every clip, then at each concurrency drive it for `duration_s` with the async client,
   scraping /metrics before and after for the per-stage breakdown.
3. The same for the naive baseline (`python -m bench.baseline`).
4. The raw pipeline limit (decoder pool + runtime/batcher in-process) at the highest concurrency.
5. Ratios and goals; JSON, markdown and plots are written by `bench.report`.

    python -m bench.e2e --duration 30 --concurrency 1,4,16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.bundles import PreparedModel, prepare
from bench.clips import GENERATED, SMOKE_GENERATED, Clip, clip_mix, describe
from bench.environment import default_memory_cap_mb, describe_environment, load_average
from bench.loadgen import drive, scrape, warm_up
from bench.server import RunningServer, baseline_command, free_port, serve, vtserve_command
from bench.stats import ratio, stage_breakdown

DEFAULT_CONCURRENCY = (1, 4, 16)
GOAL_THROUGHPUT_RATIO = 3.0
GOAL_LIMIT_FRACTION = 0.85
LOG = partial(print, flush=True)


async def _drive_with_rss(
    server: RunningServer,
    url: str,
    clips: Sequence[Clip],
    concurrency: int,
    duration_s: float,
    memory_cap_mb: float | None,
) -> tuple[dict[str, Any], float | None, str | None]:
    """Drive `url`, sampling the server's resident memory every 0.25 s.

    Past `memory_cap_mb` the server is killed (as a container's memory limit would) so that a server
    that keeps every decoded frame cannot take the shared machine down; returns (summary, peak MB,
    why it was killed or None).
    """
    peak: list[float] = []
    stop = asyncio.Event()
    abort = asyncio.Event()
    killed: list[str] = []
    started = time.perf_counter()

    async def sample() -> None:
        while not stop.is_set():
            rss = await asyncio.to_thread(server.rss_mb)
            if rss is not None:
                peak.append(rss)
                if memory_cap_mb is not None and rss > memory_cap_mb and not killed:
                    server.kill()
                    killed.append(
                        f"killed after {time.perf_counter() - started:.1f} s: resident memory {rss:.0f} MB "
                        f"over the {memory_cap_mb:.0f} MB cap"
                    )
                    abort.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)

    sampler = asyncio.create_task(sample())
    try:
        result = await drive(url, clips, concurrency=concurrency, duration_s=duration_s, abort=abort)
    finally:
        stop.set()
        await sampler
    return result.summary(), (max(peak) if peak else None), (killed[0] if killed else None)


async def _measure_server(
    server: RunningServer,
    path: str,
    clips: Sequence[Clip],
    concurrency: Sequence[int],
    duration_s: float,
    *,
    metrics: bool,
    model: str,
    log: Any,
    memory_cap_mb: float | None,
) -> list[dict[str, Any]]:
    url = server.base_url + path
    statuses = await warm_up(url, clips)
    bad = [s for s in statuses if s != 200]
    if bad:
        log(f"  warm-up: {len(bad)} of {len(statuses)} requests were not 200 ({sorted(set(bad))})")
    rows = []
    for c in concurrency:
        before = await scrape(server.base_url) if metrics else ""
        load_before = load_average()
        summary, peak, killed = await _drive_with_rss(server, url, clips, c, duration_s, memory_cap_mb)
        summary["peak_rss_mb"] = peak
        if killed:
            summary["killed"] = killed
            log(f"  c={c}: {killed}; no further levels for this server")
            rows.append(summary)
            break
        summary["load_average_1m"] = [load_before, load_average()]
        if metrics:
            summary["breakdown"] = stage_breakdown(before, await scrape(server.base_url), model=model)
        log(
            f"  c={c}: {summary['clips_per_s']} clips/s, p50 {summary['latency']['p50_ms']} ms, "
            f"p99 {summary['latency']['p99_ms']} ms, errors {summary['errors']}"
        )
        rows.append(summary)
    return rows


def run_vtserve(
    prepared: PreparedModel,
    clips: Sequence[Clip],
    concurrency: Sequence[int],
    duration_s: float,
    work_dir: Path,
    log: Any,
    memory_cap_mb: float | None = None,
    settings_env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    port = free_port()
    env = {
        "VTSERVE_MODEL_REPOSITORY": str(prepared.repository),
        "VTSERVE_MODELS": prepared.name,
        "VTSERVE_CACHE_DIR": str(work_dir / "cache"),
        "VTSERVE_LOG_LEVEL": "warning",
        **(settings_env or {}),
    }
    env.pop("VTSERVE_CONFIG", None)
    with serve(
        vtserve_command(port), port=port, ready_path="/readyz", log_path=work_dir / "vtserve.log", env=env
    ) as s:
        return asyncio.run(
            _measure_server(
                s,
                "/v1/predictions",
                clips,
                concurrency,
                duration_s,
                metrics=True,
                model=prepared.name,
                log=log,
                memory_cap_mb=memory_cap_mb,
            )
        )


def run_baseline(
    prepared: PreparedModel,
    clips: Sequence[Clip],
    concurrency: Sequence[int],
    duration_s: float,
    work_dir: Path,
    log: Any,
    memory_cap_mb: float | None = None,
) -> list[dict[str, Any]]:
    port = free_port()
    command = baseline_command(prepared.weights_dir, port)
    with serve(command, port=port, ready_path="/healthz", log_path=work_dir / "baseline.log") as s:
        return asyncio.run(
            _measure_server(
                s,
                "/predict",
                clips,
                concurrency,
                duration_s,
                metrics=False,
                model="",
                log=log,
                memory_cap_mb=memory_cap_mb,
            )
        )


def compare(
    vtserve: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]], limit: dict[str, Any] | None
) -> dict[str, Any]:
    """Ratios per concurrency, the service's share of the pipeline limit, and the goals."""
    by_c = {row["concurrency"]: row for row in baseline}
    ratios = []
    for row in vtserve:
        base = by_c.get(row["concurrency"])
        if base is None:
            continue
        entry = {
            "concurrency": row["concurrency"],
            "throughput_ratio": ratio(row["clips_per_s"], base["clips_per_s"]),
            "p99_ratio": ratio(row["latency"]["p99_ms"], base["latency"]["p99_ms"]),
        }
        notes = [
            f"{who} {r['killed']}" for who, r in (("vtserve", row), ("baseline", base)) if r.get("killed")
        ]
        if notes:
            entry["note"] = "; ".join(notes) + " (ratios from the answers received before)"
        ratios.append(entry)
    top = max(vtserve, key=lambda r: r["concurrency"]) if vtserve else None
    fraction = ratio(top["clips_per_s"], limit["clips_per_s"]) if top and limit else None
    top_ratio = next((r for r in ratios if top and r["concurrency"] == top["concurrency"]), None)
    goals = {
        "throughput_ratio_at_top_concurrency": {
            "goal": f">= {GOAL_THROUGHPUT_RATIO}x",
            "value": top_ratio["throughput_ratio"] if top_ratio else None,
            "met": bool(top_ratio and (top_ratio["throughput_ratio"] or 0) >= GOAL_THROUGHPUT_RATIO),
        },
        "p99_lower_at_top_concurrency": {
            "goal": "vtserve p99 < baseline p99",
            "value": top_ratio["p99_ratio"] if top_ratio else None,
            "met": bool(top_ratio and top_ratio["p99_ratio"] is not None and top_ratio["p99_ratio"] < 1.0),
        },
        "service_fraction_of_pipeline_limit": {
            "goal": f">= {GOAL_LIMIT_FRACTION:.0%}",
            "value": fraction,
            "met": bool(fraction is not None and fraction >= GOAL_LIMIT_FRACTION),
        },
    }
    return {"ratios": ratios, "service_fraction_of_limit": fraction, "goals": goals}


def run(
    *,
    model: str = "auto",
    concurrency: Sequence[int] = DEFAULT_CONCURRENCY,
    duration_s: float = 30.0,
    out_dir: Path,
    smoke: bool = False,
    skip_baseline: bool = False,
    skip_limit: bool = False,
    memory_cap_mb: float | None = None,
    log: Any = LOG,
) -> dict[str, Any]:
    """The whole end-to-end benchmark; returns the results document (also written by the caller).

    `memory_cap_mb`: a server whose resident memory passes it is killed (default: 60% of the memory
    available when the run starts; 0 = no cap).
    """
    work_dir = (out_dir / "work").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    env_before = describe_environment()
    if memory_cap_mb is None:
        memory_cap_mb = default_memory_cap_mb()
    cap = memory_cap_mb or None
    log(f"server memory cap: {f'{cap:.0f} MB' if cap else 'none'}")
    log(f"preparing model {model!r} ...")
    prepared = prepare(model, work_dir)
    log(f"  {prepared.label}: bundle {prepared.repository / prepared.name}")
    clips = clip_mix(generated=SMOKE_GENERATED if smoke else GENERATED)
    log(f"clip mix: {len(clips)} clips ({sum(c.size_bytes for c in clips) / 1e6:.1f} MB)")

    log("vtserve ...")
    vt_rows = run_vtserve(prepared, clips, concurrency, duration_s, work_dir, log, memory_cap_mb=cap)
    base_rows: list[dict[str, Any]] = []
    if not skip_baseline:
        log("naive baseline ...")
        base_rows = run_baseline(prepared, clips, concurrency, duration_s, work_dir, log, memory_cap_mb=cap)
    limit: dict[str, Any] | None = None
    if not skip_limit:
        top = max(concurrency)
        log(f"raw pipeline limit (in-process, concurrency {top}) ...")
        from bench.pipeline_limit import measure

        result = measure(
            prepared.repository,
            prepared.name,
            clips,
            concurrency=(top,),
            duration_s=duration_s,
            warmup_rounds=1,
        )[0]
        limit = result.summary()
        log(f"  {limit['clips_per_s']} clips/s, mean batch {limit['mean_batch_size']}")
    return {
        "benchmark": "e2e",
        "started_unix": round(started),
        "elapsed_s": round(time.time() - started, 1),
        "environment": {"before": env_before, "after": describe_environment()},
        "model": {
            "name": prepared.name,
            "label": prepared.label,
            "num_frames": prepared.num_frames,
            "image_size": prepared.image_size,
            "gflop_per_clip": prepared.gflop_per_clip,
        },
        "clips": describe(clips),
        "duration_s": duration_s,
        "concurrency": list(concurrency),
        "memory_cap_mb": cap,
        "vtserve": vt_rows,
        "baseline": base_rows,
        "pipeline_limit": limit,
        "comparison": compare(vt_rows, base_rows, limit),
    }


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--model",
        default="auto",
        help="auto (shipped motion-timesformer, else its architecture, random weights) or a registered name",
    )
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per concurrency level")
    parser.add_argument("--smoke", action="store_true", help="one small generated clip instead of the set")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-limit", action="store_true")
    parser.add_argument(
        "--memory-cap-mb",
        type=float,
        help="kill a server whose resident memory passes this (default 60%% of available; 0 = none)",
    )


def parse_concurrency(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or min(values) < 1:
        raise ValueError(f"--concurrency needs positive integers, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_e2e

    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    results = run(
        model=args.model,
        concurrency=parse_concurrency(args.concurrency),
        duration_s=args.duration,
        out_dir=args.out,
        smoke=args.smoke,
        skip_baseline=args.skip_baseline,
        skip_limit=args.skip_limit,
        memory_cap_mb=args.memory_cap_mb,
    )
    for path in write_e2e(results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
