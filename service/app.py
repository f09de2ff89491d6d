"""`create_app(settings)`: the FastAPI application. No module-level app or settings.

The lifespan starts the decoder pool, then loads and warms up the models in the background (liveness
answers meanwhile; readiness once they are ready). On shutdown (uvicorn has stopped accepting and
finished in-flight requests) it drains the batchers and stops the decoder pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Scope

from service.api.body_limit import BodyLimit
from service.api.deps import require_api_key
from service.api.errors import install_error_handlers
from service.api.ops import health_router, metrics_router, models_router
from service.api.predictions import PREFIX as PREDICTIONS_PATH
from service.api.predictions import router as predictions_router
from service.api.upload import body_limit
from service.errors import PayloadTooLarge
from service.metrics import Metrics
from service.pipeline import Decoder, Predictor
from service.registry import ModelRegistry, load_registry
from service.settings import Settings
from service.state import ServiceState

log = logging.getLogger(__name__)

DecoderFactory = Callable[[Settings], Any]
RegistryFactory = Callable[[Settings, Metrics], ModelRegistry]

DESCRIPTION = """
Action recognition on video clips with video transformers. POST a clip, get labels and the temporal
attention; fetch an attention heatmap as PNG. Errors are JSON `{"error": {"code", "message",
"retryable"}}`; 503 answers carry `Retry-After`.
"""


def default_decoder(settings: Settings) -> Any:
    """The hardened decoder pool (worker processes with resource limits and a timeout)."""
    from service.decoding import DecodeLimits
    from service.decoding.pool import DecoderPool

    limits = DecodeLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_duration_s=settings.max_duration_s,
        max_frames_decoded=settings.max_frames_decoded,
        min_frames=settings.min_frames,
    )
    return DecoderPool(
        settings.decoder_workers,
        limits,
        settings.decode_timeout_s,
        memory_mb=settings.decoder_memory_mb,
        cpu_s=settings.decoder_cpu_s,
    )


def _decoder_gauges(state: ServiceState) -> Callable[[], None]:
    seen = {"replaced": 0}

    def refresh() -> None:
        pool = state.decoder
        if pool is None:
            return
        alive = getattr(pool, "alive_workers", None)
        if isinstance(alive, int):
            state.metrics.decoder_workers_alive.set(alive)
        replaced = getattr(pool, "replaced", None)
        if isinstance(replaced, int) and replaced > seen["replaced"]:
            state.metrics.decoder_restarts.inc(replaced - seen["replaced"])
            seen["replaced"] = replaced

    return refresh


def _count_rejection(state: ServiceState) -> Callable[[Scope], None]:
    """Count a prediction request turned away by the body cap before the endpoint ran."""

    def count(scope: Scope) -> None:
        if scope.get("method") == "POST" and str(scope.get("path", "")).rstrip("/") == PREDICTIONS_PATH:
            state.metrics.requests.labels(model="unknown", status="413").inc()
            state.metrics.request_errors.labels(model="unknown", code=PayloadTooLarge.code).inc()

    return count


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    decoder_factory: DecoderFactory = default_decoder,
    registry_factory: RegistryFactory = load_registry,
    load_in_background: bool = True,
) -> FastAPI:
    """Build the app. The factories let tests and tools substitute how models and the decoder are made."""
    state = ServiceState.create(settings, metrics)
    state.extras["refresh_gauges"] = _decoder_gauges(state)

    def load_models() -> None:
        registry = registry_factory(settings, state.metrics)
        state.predictor = Predictor(
            registry,
            state.decoder,
            metrics=state.metrics,
            max_in_progress=settings.max_queue,
            inference_timeout_s=settings.request_timeout_s,
        )
        state.ready = True
        log.info("ready: %s (default %s)", ", ".join(registry.names()), registry.default)

    async def load_safely() -> None:
        try:
            await asyncio.to_thread(load_models)
        except Exception:
            state.load_failed = True
            log.exception("loading the models failed; the service stays unready")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        decoder: Decoder = await asyncio.to_thread(decoder_factory, settings)
        state.decoder = decoder
        loading: asyncio.Task[None] | None = None
        if load_in_background:
            loading = asyncio.create_task(load_safely())
        else:
            await load_safely()
        try:
            yield
        finally:
            state.begin_drain()
            if loading is not None:
                await loading
            if state.predictor is not None:
                await asyncio.to_thread(
                    state.predictor.registry.close, drain=True, timeout_s=settings.graceful_timeout_s
                )
            close = getattr(decoder, "close", None)
            if callable(close):
                await asyncio.to_thread(close)
            state.ready = False
            log.info("stopped")

    app = FastAPI(
        title="vtserve",
        summary="Video transformers for action recognition, with temporal attention",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.add_middleware(
        BodyLimit, max_body_size=body_limit(settings.max_upload_bytes), on_reject=_count_rejection(state)
    )
    app.state.service = state
    install_error_handlers(app, settings.retry_after_s)
    auth = [Depends(require_api_key)] if settings.api_key is not None else []
    app.include_router(predictions_router, dependencies=auth)
    app.include_router(models_router, dependencies=auth)
    app.include_router(health_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    return app
