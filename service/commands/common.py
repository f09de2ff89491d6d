"""What the commands share: options mapped onto `Settings`, logging, output, and the offline set-up of
`predict` and `timeline` (the serving pipeline without a server)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.settings import Settings

if TYPE_CHECKING:  # imported when a command runs, so `vtserve --help` stays fast
    from service.pipeline import Predictor

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


def say(text: str, *, err: bool = False) -> None:
    """Command output (this is a CLI: stdout for results, stderr for errors and progress)."""
    (sys.stderr if err else sys.stdout).write(text + "\n")


def offline_settings(args: argparse.Namespace) -> Settings:
    """Settings for one model (`args.model`) run once in this process: no warm-up, one decoder worker,
    and a quiet log unless --log-level was given."""
    settings = settings_from_args(args, models=[args.model], warmup=False, decoder_workers=1)
    configure_logging(settings.log_level if args.log_level else "warning")
    return settings


def is_file_or_say(path: Path) -> bool:
    """True when `path` is a file; else says so on stderr."""
    if path.is_file():
        return True
    say(f"error: {path} not found", err=True)
    return False


@contextmanager
def offline_predictor(settings: Settings) -> Iterator[Predictor]:
    """The configured models loaded, a decoder pool, and a `Predictor` on them; both closed on exit
    (batchers drained)."""
    from service.app import default_decoder
    from service.loading import load_models
    from service.pipeline import Predictor

    models = load_models(settings, None)
    decoder = default_decoder(settings)
    try:
        yield Predictor(models, decoder, inference_timeout_s=settings.request_timeout_s)
    finally:
        models.close(drain=True)
        decoder.close()
