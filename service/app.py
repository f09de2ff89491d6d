"""`create_app(settings)`: the FastAPI application. No module-level app or settings.

The lifespan starts the decoder pool, then loads and warms up the models in the background (liveness
answers meanwhile; readiness once they are ready). On shutdown (uvicorn has stopped accepting and
finished in-flight requests) it drains the batchers and stops the decoder pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.types import Scope

from service.admission import admission_limit, waiting_room
from service.api.admit import AdmitBeforeBody
from service.api.body_limit import BodyLimit
from service.api.deps import require_api_key
from service.api.errors import install_error_handlers
from service.api.ops import health_router, metrics_router, models_router
from service.api.predictions import PREFIX as PREDICTIONS_PATH
from service.api.predictions import router as predictions_router
from service.api.timelines import PREFIX as TIMELINES_PATH
from service.api.timelines import router as timelines_router
from service.api.upload import body_limit
from service.decoding.pool import DecoderPool
from service.decoding.protocol import Decoder
from service.decoding.types import DecodeLimits
from service.errors import PayloadTooLarge
from service.loaded_models import LoadedModels
from service.loading import load_models
from service.metrics import Metrics
from service.oip.router import health_router as oip_health_router
from service.oip.router import router as oip_router
from service.pipeline import Predictor
from service.settings import Settings
from service.state import ServiceState
from service.web import web_router

log = logging.getLogger(__name__)

DecoderFactory = Callable[[Settings], Decoder]
ModelsFactory = Callable[[Settings, Metrics], LoadedModels]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

DESCRIPTION = """
Action recognition on video clips with video transformers. POST a clip, get labels and the temporal
attention; fetch an attention heatmap as PNG. Errors are JSON `{"error": {"code", "message",
"retryable"}}`; 503 answers carry `Retry-After`.
"""


def default_decoder(settings: Settings) -> DecoderPool:
    """The hardened decoder pool (worker processes with resource limits and a timeout)."""
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


def _count_rejection(state: ServiceState) -> Callable[[Scope], None]:
    """Count a prediction request turned away by the body cap before the endpoint ran."""

    def count(scope: Scope) -> None:
        if scope.get("method") == "POST" and str(scope.get("path", "")).rstrip("/") == PREDICTIONS_PATH:
            state.metrics.requests.labels(model="unknown", status="413").inc()
            state.metrics.request_errors.labels(model="unknown", code=PayloadTooLarge.code).inc()

    return count


async def _load(state: ServiceState, decoder: Decoder, models_factory: ModelsFactory) -> None:
    """Load the models and make the state ready; on failure log it and mark the state failed."""
    settings = state.settings

    def load() -> None:
        models = models_factory(settings, state.metrics)
        state.predictor = Predictor(
            models,
            decoder,
            metrics=state.metrics,
            max_in_progress=admission_limit(settings),
            max_waiting=waiting_room(settings),
            inference_timeout_s=settings.request_timeout_s,
        )
        state.ready = True
        log.info("ready: %s (default %s)", ", ".join(models.names()), models.default)

    try:
        await asyncio.to_thread(load)
    except Exception:
        state.load_failed = True
        log.exception("loading the models failed; the service stays unready")


async def _stop(state: ServiceState, decoder: Decoder, loading: asyncio.Task[None] | None) -> None:
    """Refuse new work, wait for loading, drain the batchers, then stop the decoder."""
    state.begin_drain()
    if loading is not None:
        await loading
    if state.predictor is not None:
        timeout_s = state.settings.graceful_timeout_s
        await asyncio.to_thread(state.predictor.models.close, drain=True, timeout_s=timeout_s)
    await asyncio.to_thread(decoder.close)
    await state.stores.close()
    state.ready = False
    log.info("stopped")


async def _check_store(state: ServiceState) -> None:
    """Log where results go; an unreachable shared store is a warning, not a reason to stay unready."""
    stores = state.stores
    if await stores.ping():
        log.info("results are stored in %s", stores.description)
    else:
        log.warning("the result store (%s) does not answer; result GETs will get 503", stores.description)


def _lifespan(
    state: ServiceState, decoder_factory: DecoderFactory, models_factory: ModelsFactory, background: bool
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        decoder = await asyncio.to_thread(decoder_factory, state.settings)
        state.decoder = decoder
        await _check_store(state)
        loading: asyncio.Task[None] | None = None
        if background:
            loading = asyncio.create_task(_load(state, decoder, models_factory))
        else:
            await _load(state, decoder, models_factory)
        try:
            yield
        finally:
            await _stop(state, decoder, loading)

    return lifespan


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    decoder_factory: DecoderFactory = default_decoder,
    models_factory: ModelsFactory = load_models,
    load_in_background: bool = True,
) -> FastAPI:
    """Build the app. The factories let tests and tools substitute how models and the decoder are made."""
    state = ServiceState.create(settings, metrics)
    app = FastAPI(
        title="vtserve",
        summary="Video transformers for action recognition, with temporal attention",
        description=DESCRIPTION,
        version="1",
        lifespan=_lifespan(state, decoder_factory, models_factory, load_in_background),
    )
    app.add_middleware(AdmitBeforeBody, state=state)  # inside the body cap: a 413 comes before a 503
    app.add_middleware(
        BodyLimit,
        max_body_size=body_limit(settings.max_upload_bytes),
        on_reject=_count_rejection(state),
        path_caps={TIMELINES_PATH: body_limit(settings.timeline_max_upload_bytes)},  # long videos
    )
    app.state.service = state
    install_error_handlers(app, settings.retry_after_s)
    auth = [Depends(require_api_key)] if settings.api_key is not None else []
    app.include_router(predictions_router, dependencies=auth)
    app.include_router(timelines_router, dependencies=auth)
    app.include_router(models_router, dependencies=auth)
    app.include_router(oip_router, dependencies=auth)
    app.include_router(health_router)
    app.include_router(oip_health_router)
    if settings.metrics_enabled:
        app.include_router(metrics_router)
    app.include_router(web_router(settings))  # the page at `/` (service/web/); off with web_ui=false
    return app
