"""Timelines of long videos: memory stays bounded by the window, and short predictions stay fast.

For a 10-minute and a 10-second 1280×720 H.264 video (25 fps, libx264 ultrafast, generated here with
PyAV: a textured still background and a moving box, about 1.2 Mbit/s), each run starts a fresh
`vtserve serve` (the shipped models, default settings), then:

* measures the resident memory of the server and its decoder workers (the whole process tree, sampled
  every 20 ms) while `POST /v1/timelines` streams the video's timeline (uploaded from the file), and
  each worker's own peak (VmHWM);
* on the long video, sends single-clip predictions one after another (a 2 s 320×240 clip) before the
  timeline (idle) and while it runs, and compares their latency (p50, p99).

Run: `.venv/bin/python -m bench.timelines [--long-s 600] [--short-s 10] [--out bench/results]`.
Writes `timelines.json` and `timelines.md` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.video.stream
import httpx
import numpy as np

from bench.environment import REPO_ROOT
from bench.server import children_of, free_port, serve, tree_rss_mb, vtserve_command

VIDEO_DIR = REPO_ROOT / "cache" / "bench-timelines"
PREDICT_PARAMS = {"attention": "false"}
IDLE_PREDICTIONS = 300  # enough for a p99 that is not just the slowest one


def make_video(path: Path, seconds: float, *, fps: int = 25, width: int = 1280, height: int = 720) -> float:
    """Encode the test video (skipped when it exists); returns the seconds it took."""
    if path.is_file():
        return 0.0
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    ground = ((xx * 80 // width) + (yy * 40 // height) + 30).astype(np.int16)
    texture = np.clip(ground + rng.integers(-12, 13, (height, width)), 0, 255).astype(np.uint8)
    planes = np.full((height * 3 // 2, width), 128, np.uint8)  # yuv420p: Y, then U and V at 128 (grey)
    box = height // 4
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(round(seconds * fps)):
            planes[:height] = texture
            x = (i * 7) % (width - box)
            y = int((height - box) / 2 + (height - box) / 2.5 * np.sin(i / 40))
            planes[y : y + box, x : x + box] = 220
            for packet in stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return time.perf_counter() - started


def _vm(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class RssSampler:
    """The process tree's resident memory every `period_s`, in a thread: the highest total (`peak_mb`), the
    server's own, and each decoder worker's (the forkserver's children; a worker that decoded a timeline
    exits after it, so its peak is only seen by sampling)."""

    def __init__(self, pid: int, period_s: float = 0.02) -> None:
        self.pid, self.period_s = pid, period_s
        self.peak_mb = 0.0
        self.server_peak_mb = 0.0
        self.worker_peaks_mb: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid) or 0.0)
            self.server_peak_mb = max(self.server_peak_mb, _vm(self.pid, "VmRSS"))
            for worker in (w for child in children_of(self.pid) for w in children_of(child)):
                self.worker_peaks_mb[worker] = max(
                    self.worker_peaks_mb.get(worker, 0.0), _vm(worker, "VmRSS")
                )
            time.sleep(self.period_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(kw_only=True)
class TimelineRun:
    video_s: float
    video_mb: float
    windows: int = 0
    first_window_s: float = 0.0
    total_s: float = 0.0
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    server_peak_rss_mb: float = 0.0
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    upload_s: float = 0.0
    predictions_idle_ms: list[float] = field(default_factory=list)
    predictions_during_ms: list[float] = field(default_factory=list)
    predictions_during_started_s: list[float] = field(default_factory=list)  # from the timeline's start


def _file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def stream_timeline(base_url: str, path: Path, run: TimelineRun) -> None:
    started = time.monotonic()
    headers = {"Content-Type": "video/mp4", "Content-Length": str(path.stat().st_size)}
    with httpx.stream(
        "POST", f"{base_url}/v1/timelines", content=_file_chunks(path), headers=headers, timeout=600
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            kind = json.loads(line)["type"]
            if kind == "timeline":
                run.upload_s = time.monotonic() - started  # the head comes once the upload is in
            if kind == "window":
                run.windows += 1
                if run.windows == 1:
                    run.first_window_s = time.monotonic() - started
            elif kind == "error":
                raise RuntimeError(f"the timeline ended with an error: {line}")
    run.total_s = time.monotonic() - started


def predict_loop(
    base_url: str, clip: bytes, until: threading.Event, out: list[float], limit: int, starts: list[float]
) -> None:
    """Single-clip predictions one after another, until `until` is set or `limit` were made."""
    origin = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while not until.is_set() and len(out) < limit:
            starts.append(time.monotonic() - origin)
            t0 = time.perf_counter()
            response = client.post(
                "/v1/predictions", content=clip, params=PREDICT_PARAMS, headers={"Content-Type": "video/mp4"}
            )
            response.raise_for_status()
            out.append((time.perf_counter() - t0) * 1000.0)


def measure(video: Path, seconds: float, clip: bytes | None, log_dir: Path) -> TimelineRun:
    """One fresh server: idle RSS, (idle predictions), then the timeline with RSS sampled throughout."""
    port = free_port()
    run = TimelineRun(video_s=seconds, video_mb=round(video.stat().st_size / 1e6, 1))
    with serve(
        vtserve_command(port),
        port=port,
        ready_path="/readyz",
        log_path=log_dir / f"timeline-{seconds:g}s.log",
    ) as server:
        pid = server.process.pid
        time.sleep(1.0)
        run.idle_rss_mb = tree_rss_mb(pid) or 0.0
        done = threading.Event()
        if clip is not None:
            predict_loop(server.base_url, clip, done, run.predictions_idle_ms, IDLE_PREDICTIONS, [])
        loop = None
        if clip is not None:
            args = (
                server.base_url,
                clip,
                done,
                run.predictions_during_ms,
                10_000,
                run.predictions_during_started_s,
            )
            loop = threading.Thread(target=predict_loop, args=args, daemon=True)
        with RssSampler(pid) as sampler:
            if loop is not None:
                loop.start()
            stream_timeline(server.base_url, video, run)
            done.set()
            if loop is not None:
                loop.join(60)
        run.peak_rss_mb, run.server_peak_rss_mb = sampler.peak_mb, sampler.server_peak_mb
        run.worker_peak_rss_mb = sorted((round(m, 1) for m in sampler.worker_peaks_mb.values()), reverse=True)
    return run


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def latency(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.0f} ms, p95 {percentile(values, 95):.0f} ms, "
        f"p99 {percentile(values, 99):.0f} ms (n={len(values)})"
    )


def report(runs: list[TimelineRun], generation: dict[str, float]) -> str:
    rows = [
        "| video | size | windows | first window | whole timeline | RSS idle | peak RSS (server + workers) "
        "| server peak | each decoder worker's peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rows.append(
            f"| {r.video_s:g} s 720p | {r.video_mb:g} MB | {r.windows} | {r.first_window_s:.2f} s "
            f"| {r.total_s:.1f} s | {r.idle_rss_mb:.0f} MB | {r.peak_rss_mb:.0f} MB "
            f"| {r.server_peak_rss_mb:.0f} MB | {', '.join(f'{m:.0f}' for m in r.worker_peak_rss_mb)} MB |"
        )
    long, short = runs[0], runs[-1]
    rows.append("")
    rows.append(
        f"Peak RSS, 10 min vs 10 s: {long.peak_rss_mb:.0f} / {short.peak_rss_mb:.0f} MB = "
        f"{long.peak_rss_mb / short.peak_rss_mb:.2f}x (above idle: {long.peak_rss_mb - long.idle_rss_mb:.0f} "
        f"vs {short.peak_rss_mb - short.idle_rss_mb:.0f} MB)."
    )
    idle, during = long.predictions_idle_ms, long.predictions_during_ms
    after = [
        ms for ms, t in zip(during, long.predictions_during_started_s, strict=False) if t > long.upload_s
    ]
    if idle and during and after:
        rows.append(f"Single-clip predictions (2 s 320×240 clip), idle: {latency(idle)}.")
        rows.append(f"While the {long.video_s:g} s timeline ran: {latency(during)}.")
        rows.append(
            f"Once its upload was in ({long.upload_s:.1f} s): {latency(after)}; p99 ratio to idle "
            f"{percentile(after, 99) / percentile(idle, 99):.2f}x."
        )
    rows.append(f"Video generation: {', '.join(f'{k} {v:.0f} s' for k, v in generation.items())}.")
    return "\n".join(rows) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--long-s", type=float, default=600.0, help="the long video's length (default 600)")
    parser.add_argument("--short-s", type=float, default=10.0, help="the short video's length (default 10)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")


def export_bundles() -> None:
    """Export the shipped models before any server starts, so no measured server pays for an export."""
    from service.bundles import configured_names, resolve_bundle
    from service.settings import Settings

    settings = Settings()
    for name in configured_names(settings):
        resolve_bundle(name, settings)


def main(args: argparse.Namespace) -> dict[str, Any]:
    VIDEO_DIR.mkdir(parents=True, exist_ok=True)
    export_bundles()
    videos = {s: VIDEO_DIR / f"box-720p-{s:g}s.mp4" for s in (args.long_s, args.short_s)}
    generation = {f"{s:g} s": make_video(path, s) for s, path in videos.items()}
    clip_path = VIDEO_DIR / "box-240p-2s.mp4"
    make_video(clip_path, 2.0, width=320, height=240)
    clip = clip_path.read_bytes()
    runs = [
        measure(videos[args.long_s], args.long_s, clip, args.out),
        measure(videos[args.short_s], args.short_s, None, args.out),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"runs": [asdict(r) for r in runs], "generation_s": generation}
    (args.out / "timelines.json").write_text(json.dumps(result, indent=2))
    text = report(runs, generation)
    (args.out / "timelines.md").write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m bench.timelines", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    main(_parser.parse_args())
