"""`vtserve timeline BUNDLE_OR_NAME VIDEO`: a long video's actions over time, without a server.

The same pipeline as `POST /v1/timelines`: the video is read by a decoder worker straight from its file
(one packet scan, then one forward pass), each window goes through the model's batcher and runtime, and a
progress bar shows the windows as they complete. Writes `timeline.png` and prints the segments (or, with
`--json`, the document `GET /v1/timelines/{id}` would answer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from service.commands.common import (
    add_model_options,
    is_file_or_say,
    offline_predictor,
    offline_settings,
    say,
)
from service.errors import ServiceError

if TYPE_CHECKING:  # imported when the command runs, so `vtserve --help` stays fast
    from service.pipeline import Predictor
    from service.settings import Settings
    from service.timelines.schemas import TimelineDocument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="BUNDLE_OR_NAME", help="a bundle folder or a model name")
    parser.add_argument("video", metavar="VIDEO", type=Path, help="the video file")
    parser.add_argument(
        "--out", type=Path, help="where to write the PNG (default: VIDEO's name + .timeline.png)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole timeline as JSON")
    parser.add_argument("--window-s", type=float, help="window length (default: the model's temporal span)")
    parser.add_argument("--stride-s", type=float, help="default: half a window")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_model_options(parser)


class ProgressBar:
    """`[#####.....]  12/89 windows  3.1 s` on one terminal line, redrawn as windows complete."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool, width: int = 30) -> None:
        self.total, self.stream, self.enabled, self.width = max(total, 1), stream, enabled, width
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        filled = self.width * done // self.total
        elapsed = time.monotonic() - self.started
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done:>5}/{self.total} windows  {elapsed:6.1f} s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


async def build_timeline(
    args: argparse.Namespace, predictor: Predictor, settings: Settings
) -> TimelineDocument:
    """Run the timeline of `args.video` with a progress bar; returns its document."""
    from service.timelines.record import TimelineRecord
    from service.timelines.runner import TimelineOptions, TimelineRun, window_request

    model = predictor.models.get()
    options = TimelineOptions(window_s=args.window_s, stride_s=args.stride_s, top_k=args.top_k)
    run = TimelineRun(predictor, model, args.video, window_request(model, options, settings), options)
    try:
        plan, clip = await run.start()
        record = TimelineRecord(
            timeline_id="local",
            model=run.model_ref,
            clip=clip,
            window_s=plan.window_s,
            stride_s=plan.stride_s,
            windows=len(plan.windows),
        )
        bar = ProgressBar(len(plan.windows), sys.stderr, enabled=not args.no_progress and sys.stderr.isatty())
        async for line in run.lines(record):
            if line.type == "window":
                bar.update(run.processed)
        bar.close()
    finally:
        await run.close()
    return record.document()


def _report(document: TimelineDocument, out: Path, as_json: bool) -> None:
    if as_json:
        say(document.model_dump_json(indent=2, exclude={"id", "links"}))
        return
    head = f"{document.model.name} {document.model.version}: {document.clip.duration_s:.1f} s"
    say(f"{head}, {len(document.windows)} windows of {document.window_s:g} s every {document.stride_s:g} s")
    for segment in document.segments:
        say(f"  {segment.start_s:8.2f} - {segment.end_s:8.2f} s  {segment.label:<28} {segment.score:6.2%}")
    if document.error is not None:
        say(f"  stopped early: {document.error.code}: {document.error.message}")
    say(f"  timeline  {out}")


def run(args: argparse.Namespace) -> int:
    from service.timelines.render import render_timeline

    settings = offline_settings(args)
    if not is_file_or_say(args.video):
        return 2
    with offline_predictor(settings) as predictor:
        try:
            document = asyncio.run(build_timeline(args, predictor, settings))
        except ServiceError as exc:
            say(f"error: {exc.code}: {exc.message}", err=True)
            return 1
        labels = predictor.models.get().manifest.labels
    out = args.out or Path(args.video.name + ".timeline.png")
    out.write_bytes(render_timeline(document, labels))
    _report(document, out, args.json)
    return 0 if document.complete else 1


if __name__ == "__main__":  # `python -m service.commands.timeline`: the same command, no dispatcher
    _parser = argparse.ArgumentParser(prog="vtserve timeline", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
