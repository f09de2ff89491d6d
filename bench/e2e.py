"""End-to-end: vtserve vs the naive baseline vs a LitServe peer vs the pipeline limit, same model and clips.

1. Prepare the model (shipped `motion-timesformer` when present, else its architecture with random
   weights): a checkpoint folder for the baseline and a bundle repository for vtserve, same weights; and
   the LitServe peer's own virtualenv (`bench.peer`; `--skip-peer` leaves it out).
2. Start `vtserve serve` in a subprocess (env `VTSERVE_*` pointing at the repository), wait for /readyz,
   warm up on every clip, ask each clip once (these answers are the reference), then at each concurrency
   drive it for `duration_s` with the async client, scraping /metrics before and after for the per-stage
   breakdown.
3. The same for the naive baseline (`python -m bench.baseline`) and the LitServe peer
   (`python -m bench.peer_litserve` from its venv: the same bundle, batch size, batch wait and onnxruntime
   threads as vtserve). Every 200 of every timed run is checked: its top-1 label must be vtserve's for
   that clip (`wrong_answers`); each server's answers per clip are compared with vtserve's (`answers`).
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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.answers import LabelCheck, Labels, agreement, answers_of
from bench.bundles import PreparedModel, prepare
from bench.clips import GENERATED, SMOKE_GENERATED, Clip, clip_mix, describe
from bench.comparison import compare
from bench.environment import default_memory_cap_mb, describe_environment, load_average
from bench.loadgen import drive, scrape, warm_up
from bench.peer import DEFAULT_WORKERS, ensure_venv, litserve_command, options_like_vtserve
from bench.server import RunningServer, baseline_command, free_port, serve, vtserve_command
from bench.stats import stage_breakdown

DEFAULT_CONCURRENCY = (1, 4, 16)
LOG = partial(print, flush=True)


async def _drive_with_rss(
    server: RunningServer,
    url: str,
    clips: Sequence[Clip],
    concurrency: int,
    duration_s: float,
    memory_cap_mb: float | None,
    check: LabelCheck,
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
        result = await drive(
            url, clips, concurrency=concurrency, duration_s=duration_s, abort=abort, check=check
        )
    finally:
        stop.set()
        await sampler
    return result.summary(), (max(peak) if peak else None), (killed[0] if killed else None)


@dataclass(frozen=True, kw_only=True)
class Levels:
    """What every server is driven with: the clips, the client counts, seconds per level, the memory cap."""

    clips: Sequence[Clip]
    concurrency: Sequence[int]
    duration_s: float
    memory_cap_mb: float | None
    log: Any = LOG


@dataclass(kw_only=True)
class Measured:
    """One server's rows (one per client count) and its answer for each clip (asked once, after warm-up)."""

    rows: list[dict[str, Any]]
    answers: dict[str, Labels | None]


async def _measure_server(
    server: RunningServer,
    path: str,
    levels: Levels,
    *,
    model: str | None,
    reference: Mapping[str, Labels | None] | None,
) -> Measured:
    """Warm up, ask each clip once, then drive every level (`model`: scrape vtserve's /metrics for it).
    Every 200 of the timed runs is checked against `reference`'s top-1 label (None: this server's own)."""
    url, log = server.base_url + path, levels.log
    statuses = await warm_up(url, levels.clips)
    bad = [s for s in statuses if s != 200]
    if bad:
        log(f"  warm-up: {len(bad)} of {len(statuses)} requests were not 200 ({sorted(set(bad))})")
    answers = await answers_of(url, levels.clips)
    check = LabelCheck.of(answers if reference is None else reference)
    rows = []
    for c in levels.concurrency:
        before = await scrape(server.base_url) if model else ""
        load_before = load_average()
        summary, peak, killed = await _drive_with_rss(
            server, url, levels.clips, c, levels.duration_s, levels.memory_cap_mb, check
        )
        summary["peak_rss_mb"] = peak
        if killed:
            summary["killed"] = killed
            log(f"  c={c}: {killed}; no further levels for this server")
            rows.append(summary)
            break
        summary["load_average_1m"] = [load_before, load_average()]
        if model:
            summary["breakdown"] = stage_breakdown(before, await scrape(server.base_url), model=model)
        log(
            f"  c={c}: {summary['clips_per_s']} clips/s, p50 {summary['latency']['p50_ms']} ms, "
            f"p99 {summary['latency']['p99_ms']} ms, errors {summary['errors']}, "
            f"wrong answers {summary['wrong_answers']} of {summary['checked']}"
        )
        rows.append(summary)
    return Measured(rows=rows, answers=answers)


def run_vtserve(
    prepared: PreparedModel, levels: Levels, work_dir: Path, settings_env: dict[str, str] | None = None
) -> Measured:
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
        measure = _measure_server(s, "/v1/predictions", levels, model=prepared.name, reference=None)
        return asyncio.run(measure)


def run_baseline(
    prepared: PreparedModel, levels: Levels, work_dir: Path, reference: Mapping[str, Labels | None]
) -> Measured:
    port = free_port()
    command = baseline_command(prepared.weights_dir, port)
    with serve(command, port=port, ready_path="/healthz", log_path=work_dir / "baseline.log") as s:
        return asyncio.run(_measure_server(s, "/predict", levels, model=None, reference=reference))


def run_litserve(
    prepared: PreparedModel,
    levels: Levels,
    work_dir: Path,
    reference: Mapping[str, Labels | None],
    *,
    python: Path,
    workers: int = DEFAULT_WORKERS,
) -> Measured:
    """The LitServe peer (`bench.peer_litserve`, from the venv whose interpreter is `python`) on the same
    bundle; its process group is killed afterwards, so no worker outlives the run."""
    port = free_port()
    command = litserve_command(
        python, prepared.repository / prepared.name, port, options_like_vtserve(workers)
    )
    started: list[RunningServer] = []
    try:
        with serve(command, port=port, ready_path="/health", log_path=work_dir / "litserve.log") as s:
            started.append(s)
            return asyncio.run(_measure_server(s, "/predict", levels, model=None, reference=reference))
    finally:
        for s in started:
            s.kill()  # after its SIGTERM: any worker that outlived LitServe's main process


def _pipeline_limit(prepared: PreparedModel, levels: Levels) -> dict[str, Any]:
    from bench.pipeline_limit import measure

    top = max(levels.concurrency)
    levels.log(f"raw pipeline limit (in-process, concurrency {top}) ...")
    result = measure(
        prepared.repository,
        prepared.name,
        levels.clips,
        concurrency=(top,),
        duration_s=levels.duration_s,
        warmup_rounds=1,
    )[0]
    limit = result.summary()
    levels.log(f"  {limit['clips_per_s']} clips/s, mean batch {limit['mean_batch_size']}")
    return limit


def _servers(
    prepared: PreparedModel,
    levels: Levels,
    work_dir: Path,
    *,
    baseline: bool,
    peer: Path | None,
    workers: int,
) -> dict[str, Measured]:
    """vtserve first (its answers are the reference), then the naive baseline and the LitServe peer."""
    levels.log("vtserve ...")
    measured = {"vtserve": run_vtserve(prepared, levels, work_dir)}
    reference = measured["vtserve"].answers
    if baseline:
        levels.log("naive baseline ...")
        measured["baseline"] = run_baseline(prepared, levels, work_dir, reference)
    if peer is not None:
        levels.log(f"LitServe peer ({workers} workers) ...")
        measured["litserve"] = run_litserve(
            prepared, levels, work_dir, reference, python=peer, workers=workers
        )
    return measured


def run(
    *,
    model: str = "auto",
    concurrency: Sequence[int] = DEFAULT_CONCURRENCY,
    duration_s: float = 30.0,
    out_dir: Path,
    smoke: bool = False,
    skip_baseline: bool = False,
    skip_limit: bool = False,
    skip_peer: bool = False,
    peer_workers: int = DEFAULT_WORKERS,
    memory_cap_mb: float | None = None,
    log: Any = LOG,
) -> dict[str, Any]:
    """The whole end-to-end benchmark; returns the results document (also written by the caller).

    `memory_cap_mb`: a server whose resident memory passes it is killed (default: 60% of the memory
    available when the run starts; 0 = no cap). The peer's venv is made first (`PeerUnavailable` at once,
    before anything is measured, when it cannot be).
    """
    work_dir = (out_dir / "work").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    env_before = describe_environment()
    peer = None if skip_peer else ensure_venv(log=log)
    if memory_cap_mb is None:
        memory_cap_mb = default_memory_cap_mb()
    cap = memory_cap_mb or None
    log(f"server memory cap: {f'{cap:.0f} MB' if cap else 'none'}")
    log(f"preparing model {model!r} ...")
    prepared = prepare(model, work_dir)
    log(f"  {prepared.label}: bundle {prepared.repository / prepared.name}")
    clips = clip_mix(generated=SMOKE_GENERATED if smoke else GENERATED)
    log(f"clip mix: {len(clips)} clips ({sum(c.size_bytes for c in clips) / 1e6:.1f} MB)")
    levels = Levels(clips=clips, concurrency=concurrency, duration_s=duration_s, memory_cap_mb=cap, log=log)
    measured = _servers(
        prepared, levels, work_dir, baseline=not skip_baseline, peer=peer, workers=peer_workers
    )
    limit = None if skip_limit else _pipeline_limit(prepared, levels)
    rows = {name: m.rows for name, m in measured.items()}
    reference = measured["vtserve"].answers
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
        "vtserve": rows["vtserve"],
        "baseline": rows.get("baseline", []),
        "litserve": rows.get("litserve", []),
        "peer": None
        if peer is None
        else {"server": "litserve", **asdict(options_like_vtserve(peer_workers))},
        "answers": {
            name: agreement(reference, m.answers) for name, m in measured.items() if name != "vtserve"
        },
        "pipeline_limit": limit,
        "comparison": compare(rows["vtserve"], rows.get("baseline", []), limit, rows.get("litserve", [])),
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
    parser.add_argument("--skip-peer", action="store_true", help="leave the LitServe peer out")
    parser.add_argument(
        "--peer-workers", type=int, default=DEFAULT_WORKERS, help="LitServe worker processes (default 2)"
    )
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


def run_args(args: argparse.Namespace) -> dict[str, Any]:
    """`run` with the options of `add_arguments` (`python -m bench.e2e` and `vtserve bench e2e`)."""
    return run(
        model=args.model,
        concurrency=parse_concurrency(args.concurrency),
        duration_s=args.duration,
        out_dir=args.out,
        smoke=args.smoke,
        skip_baseline=args.skip_baseline,
        skip_limit=args.skip_limit,
        skip_peer=args.skip_peer,
        peer_workers=args.peer_workers,
        memory_cap_mb=args.memory_cap_mb,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.report import write_e2e

    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    for path in write_e2e(run_args(args), args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
