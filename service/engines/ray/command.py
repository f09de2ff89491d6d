"""`vtserve serve --engine ray`: deploy the application on a Ray cluster and keep it up until SIGINT/SIGTERM.

Joins `settings.ray_address` (else starts a one-machine cluster here, without Ray's dashboard), exports
shipped models that have no bundle yet (replicas never write), starts Serve's proxy on `host:port`, runs
the application as `vtserve`, and on a signal deletes it (its replicas drain: the ingress finishes what it
admitted) and stops the cluster if it started one. The same as `serve run deploy/ray/serve.yaml`, with the
settings of `vtserve serve`.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from service.bundles import configured_names, resolve_bundle
from service.engines.ray.app import application
from service.engines.ray.handles import ray_module, serve_module
from service.settings import Settings

log = logging.getLogger(__name__)

APP_NAME = "vtserve"


def absolute(settings: Settings) -> Settings:
    """Settings whose paths mean the same on every node of a cluster that shares this file system."""
    models = [str(Path(m).resolve()) if Path(m).exists() else m for m in settings.models]
    repository = settings.model_repository
    return settings.model_copy(
        update={
            "models": models,
            "cache_dir": settings.cache_dir.resolve(),
            "model_repository": None if repository is None else repository.resolve(),
        }
    )


def _stop_on_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM (installed after `ray.init`, whose own handler would exit)."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("signal %d: deleting the application", signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    return stop


def serve_on_ray(settings: Settings) -> int:
    """Run until a signal; 0 once the application was deleted again."""
    ray, serve = ray_module(), serve_module()
    settings = absolute(settings)
    for name in configured_names(settings):  # export shipped models once, here, before replicas read them
        resolve_bundle(name, settings)
    local = settings.ray_address is None
    if local:
        ray.init(include_dashboard=False)
    else:
        ray.init(address=settings.ray_address)
    stop = _stop_on_signal()
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(application(settings), name=APP_NAME, route_prefix="/")
        log.info("vtserve on Ray Serve: http://%s:%d (Ctrl-C to stop)", settings.host, settings.port)
        stop.wait()
        serve.delete(APP_NAME)
        if local:
            serve.shutdown()
    finally:
        ray.shutdown()
    return 0
