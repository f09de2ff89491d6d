"""`vtserve export SOURCE --out DIR`: write a parity-checked model bundle (see `export.bundle`)."""

from __future__ import annotations

import argparse
import sys
import time

from export.engine_cli import add_engine_options
from export.errors import ExportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a shipped model name (e.g. motion-timesformer), one of our checkpoint folders, "
        "a Hugging Face folder, or an official TimeSformer .pyth file",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="the bundle folder to write (replaced whole)"
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=("onnx", "tensorrt"),
        default="onnx",
        help="tensorrt also builds an engine for this host's GPU (later: vtserve build-engine BUNDLE)",
    )
    parser.add_argument(
        "--frames", type=int, default=None, metavar="T", help="frames per clip (default: the model's)"
    )
    parser.add_argument(
        "--image-size", type=int, default=None, metavar="S", help="crop size (default: the model's)"
    )
    add_engine_options(
        parser,
        precision_help="TensorRT engine precision (default fp16); ONNX graphs are always fp32",
        max_batch=16,
        max_batch_help="largest batch of the TensorRT profile (default 16)",
    )
    parser.add_argument(
        "--no-attention", action="store_true", help="export logits only, without attention maps"
    )
    parser.add_argument(
        "--keep-ratio",
        type=float,
        default=1.0,
        metavar="R",
        help="run on this share of each clip's tokens, the most temporally relevant (joint-attention "
        "models: ViViT Model 1, VideoMAE, V-JEPA 2; default 1.0 = all)",
    )
    parser.add_argument(
        "--quantize",
        choices=("none", "int8"),
        default="none",
        help="int8: the linear layers in int8 (onnxruntime dynamic quantization, for CPUs); parity is then "
        "top-1 agreement with the float32 graph >= 99%% on the check clips (default none)",
    )


class StderrProgress:
    """Progress lines on stderr with the seconds since start, e.g. `[  3.2s] checking parity ...`."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from export.bundle import build_bundle

    try:
        manifest = build_bundle(
            args.source,
            Path(args.out),
            fmt=args.fmt,
            precision=args.precision,
            num_frames=args.frames,
            image_size=args.image_size,
            max_batch=args.max_batch,
            attention=not args.no_attention,
            keep_ratio=args.keep_ratio,
            quantize=args.quantize,
            progress=StderrProgress(),
        )
    except ExportError as exc:
        print(f"vtserve export: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vtserve export: interrupted; nothing was written to --out", file=sys.stderr)
        return 130
    parity = manifest.parity
    worst = max((c.max_abs_logit_diff for c in parity.cases), default=0.0) if parity else None
    outputs = ", ".join(f"{o.name} {o.shape}" for o in manifest.outputs)
    print(f"{args.out}: {manifest.name} ({manifest.architecture}, {manifest.attention}) -> {outputs}")
    if worst is not None:
        print(f"parity vs PyTorch: max |Δlogit| {worst:.2g} (tolerance {parity.tolerance:g})")  # type: ignore[union-attr]
    if manifest.quantized_parity is not None:
        from export.quantize import describe_int8_parity

        print(describe_int8_parity(manifest.quantized_parity))
    if manifest.tensorrt is not None:
        from export.engine import describe_engine

        print(describe_engine(manifest.tensorrt))
    return 0
