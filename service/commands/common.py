"""Command-line options shared by `serve` and `predict`, mapped onto `Settings` keyword arguments."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from service.settings import Settings

# option dest -> Settings field (only options the user actually gave override the other sources)
SETTING_OPTIONS = (
    "model_repository",
    "cache_dir",
    "runtime",
    "providers",
    "max_batch_size",
    "max_wait_ms",
    "max_queue",
    "max_in_flight",
    "decoder_workers",
    "log_level",
)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="settings file (TOML, YAML or JSON); else $VTSERVE_CONFIG"
    )
    parser.add_argument("--model-repository", type=Path, help="folder of bundles side by side")
    parser.add_argument("--cache-dir", type=Path, help="where shipped models are exported on first use")
    parser.add_argument("--runtime", choices=["onnxruntime", "tensorrt", "torch"])
    parser.add_argument(
        "--providers", type=lambda s: [p for p in s.split(",") if p], help="e.g. tensorrt,cuda,cpu"
    )
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--max-wait-ms", type=float)
    parser.add_argument("--max-queue", type=int)
    parser.add_argument("--max-in-flight", type=int, help="requests in progress per model before 503")
    parser.add_argument("--decoder-workers", type=int)
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in SETTING_OPTIONS if getattr(args, name, None) is not None
    }
    overrides.update({k: v for k, v in extra.items() if v is not None})
    if getattr(args, "config", None) is not None:
        overrides["config_file"] = args.config
    return Settings(**overrides)


def configure_logging(level: str) -> None:
    """vtserve's own loggers at `level`; libraries' (onnx_ir, onnxscript, torch...) at WARNING or above
    unless `level` is debug, so their INFO chatter stays out of the service log."""
    own = logging.getLevelName(level.upper())
    libraries = own if own <= logging.DEBUG else max(own, logging.WARNING)
    logging.basicConfig(level=libraries, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for package in ("service", "export", "models", "bench"):
        logging.getLogger(package).setLevel(own)
