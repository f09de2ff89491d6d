"""`vtserve build-engine BUNDLE`: build a TensorRT engine for this host into an exported bundle.

Run it on (a host like) the one that will serve, before serving with `VTSERVE_RUNTIME=tensorrt`: the
runtime loads only an engine recorded for its TensorRT version and GPU, and never builds one itself.
See `export.engine`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.errors import ExportError
from export.manifest import PRECISIONS


def say(text: str, *, err: bool = False) -> None:
    """Command output: results on stdout, errors on stderr."""
    (sys.stderr if err else sys.stdout).write(text + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bundle", metavar="BUNDLE", type=Path, help="a bundle folder written by vtserve export"
    )
    add_engine_options(
        parser,
        precision_help="engine precision (default: the previous engine's, else fp16)",
        max_batch=None,
        max_batch_help="largest batch of the profile (default: the previous engine's, else 16)",
    )


def add_engine_options(
    parser: argparse.ArgumentParser, *, precision_help: str, max_batch: int | None, max_batch_help: str
) -> None:
    """--precision and --max-batch of a TensorRT engine, as `vtserve export` and `vtserve build-engine`
    take them (each says in the help what applies when they are not given)."""
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help=precision_help)
    parser.add_argument("--max-batch", type=int, default=max_batch, metavar="N", help=max_batch_help)


def run(args: argparse.Namespace) -> int:
    from export.cli import StderrProgress
    from export.engine import add_engine, describe_engine

    try:
        manifest = add_engine(
            args.bundle, precision=args.precision, max_batch=args.max_batch, progress=StderrProgress()
        )
    except ExportError as exc:
        say(f"vtserve build-engine: error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        say("vtserve build-engine: interrupted; the bundle is unchanged", err=True)
        return 130
    if manifest.tensorrt is not None:  # always, after a build
        say(f"{args.bundle}: {describe_engine(manifest.tensorrt)}")
    return 0
