"""`vtserve serve`: run the HTTP service with uvicorn.

SIGTERM (or Ctrl-C) stops admission at once (readiness fails, new predictions get 503), lets uvicorn
finish in-flight requests, then the app's lifespan drains the batchers and stops the decoder pool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from service.commands.common import add_model_options, configure_logging, settings_from_args
from service.settings import CONFIG_ENV, Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, help="default 8000")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (each loads the models)")
    parser.add_argument(
        "--models", type=lambda s: [m for m in s.split(",") if m], help="comma-separated model names or paths"
    )
    parser.add_argument("--default-model")
    parser.add_argument(
        "--engine", choices=["uvicorn", "ray"], help="ray: on Ray Serve (the `ray` extra; default uvicorn)"
    )
    add_model_options(parser)


class DrainingServer(uvicorn.Server):
    """A uvicorn server that tells the app to stop admitting work as soon as a signal arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def _settings_file(settings: Settings) -> Path:
    """The effective settings as a private JSON file, so worker processes build the same app."""
    data = json.loads(settings.model_dump_json(exclude={"config_file"}))
    data["api_key"] = settings.api_key_value()
    fd, name = tempfile.mkstemp(prefix="vtserve-settings-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return Path(name)


def create_app_from_config() -> object:
    """uvicorn's factory for worker processes: the settings come from the file in $VTSERVE_CONFIG."""
    from service.app import create_app

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _run_workers(settings: Settings) -> int:
    from service.bundles import configured_names, resolve_bundle

    for name in configured_names(settings):  # export shipped models once, before the workers race
        resolve_bundle(name, settings)
    path = _settings_file(settings)
    os.environ[CONFIG_ENV] = str(path)
    try:
        uvicorn.run(
            "service.commands.serve:create_app_from_config",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            timeout_graceful_shutdown=int(settings.graceful_timeout_s),
        )
    finally:
        path.unlink(missing_ok=True)
    return 0


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(
        args,
        host=args.host,
        port=args.port,
        workers=args.workers,
        models=args.models,
        default_model=args.default_model,
        engine=getattr(args, "engine", None),
    )
    configure_logging(settings.log_level)
    if settings.engine == "ray":
        from service.engines.ray.command import serve_on_ray

        return serve_on_ray(settings)
    if settings.workers > 1:
        return _run_workers(settings)
    from service.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout_s),
    )
    server = DrainingServer(config, on_exit=app.state.service.begin_drain)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":  # `python -m service.commands.serve`: the same command, no dispatcher
    _parser = argparse.ArgumentParser(prog="vtserve serve", description=__doc__.splitlines()[0])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
