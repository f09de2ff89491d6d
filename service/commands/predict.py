"""`vtserve predict BUNDLE_OR_NAME CLIP`: the serving pipeline without a server.

Decodes the clip in the same hardened decoder pool, runs the same batcher and runtime, prints the top
labels and writes the attention heatmap PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from service.commands.common import (
    add_model_options,
    is_file_or_say,
    offline_predictor,
    offline_settings,
    say,
)
from service.errors import ServiceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="BUNDLE_OR_NAME", help="a bundle folder or a model name")
    parser.add_argument("clip", metavar="CLIP", type=Path, help="the video file")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--heatmap", type=Path, help="where to write the heatmap PNG (default: CLIP's name + .heatmap.png)"
    )
    parser.add_argument("--no-heatmap", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the full answer as JSON")
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    from service.heatmap import render_grid

    settings = offline_settings(args)
    if not is_file_or_say(args.clip):
        return 2
    data = args.clip.read_bytes()
    if len(data) > settings.max_upload_bytes:
        say(f"error: {args.clip} exceeds max_upload_bytes={settings.max_upload_bytes}", err=True)
        return 2
    with offline_predictor(settings) as predictor:
        try:
            prediction = asyncio.run(predictor.run(predictor.models.get(), data, k=args.top_k))
        except ServiceError as exc:
            say(f"error: {exc.code}: {exc.message}", err=True)
            return 1
    heatmap = None
    if not args.no_heatmap:
        heatmap = args.heatmap or Path(args.clip.name + ".heatmap.png")
        heatmap.write_bytes(
            render_grid(
                prediction.frames, prediction.spatial, prediction.token_timestamps, prediction.importance
            )
        )
    if args.json:
        from service.api.predictions import to_response

        body = to_response("local", prediction).model_dump(exclude={"links", "id"})
        body["heatmap"] = None if heatmap is None else str(heatmap)
        say(json.dumps(body, indent=2))
        return 0
    say(f"{prediction.model} {prediction.version}: {args.clip}")
    for label, score in prediction.labels:
        say(f"  {score:7.2%}  {label}")
    if prediction.importance is not None:
        importance = " ".join(
            f"{t:.2f}s:{w:.2f}"
            for t, w in zip(prediction.token_timestamps, prediction.importance, strict=True)
        )
        say(f"  frame importance  {importance}")
    if heatmap is not None:
        say(f"  heatmap  {heatmap}")
    return 0


if __name__ == "__main__":  # `python -m service.commands.predict`: the same command, no dispatcher
    _parser = argparse.ArgumentParser(prog="vtserve predict", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
