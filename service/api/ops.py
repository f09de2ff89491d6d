"""Operational endpoints: liveness, readiness, the model list, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import StateDep
from service.api.errors import error_responses
from service.errors import NotReady
from service.loaded_models import LoadedModel
from service.metrics import METRICS_CONTENT_TYPE
from service.schemas import HealthResponse, InputInfo, ModelInfo, ModelsResponse, ReadyResponse, SamplingInfo

health_router = APIRouter(tags=["operations"])
models_router = APIRouter(tags=["models"])
metrics_router = APIRouter(tags=["operations"])


@health_router.get(
    "/healthz",
    summary="Liveness: the process answers (503 once loading the models has failed for good)",
    response_model=HealthResponse,
    responses=error_responses(503),
)
async def healthz(state: StateDep) -> HealthResponse:
    if state.load_failed:
        raise NotReady("model loading failed; see the server log")
    return HealthResponse(status="ok")


@health_router.get(
    "/readyz",
    summary="Readiness: models loaded and warmed up, not draining",
    response_model=ReadyResponse,
    responses=error_responses(503),
)
async def readyz(state: StateDep) -> ReadyResponse:
    predictor = state.require_ready()
    return ReadyResponse(status="ready", models=predictor.models.names())


def model_info(model: LoadedModel) -> ModelInfo:
    """A loaded model as `/v1/models` lists it: the bundle's input tensor, how clips are sampled for it
    (a projection of its input contract), and its runtime."""
    m, spec = model.manifest, model.manifest.inputs[0]
    return ModelInfo(
        name=model.name,
        version=m.version,
        architecture=m.architecture,
        attention=m.attention,
        labels=list(m.labels),
        input=InputInfo(name=spec.name, dtype=spec.dtype, shape=list(spec.shape)),
        sampling=SamplingInfo.model_validate(model.decode_request),
        has_attention=m.has_attention,
        runtime=model.runtime.name,
        provider=model.runtime.provider,
        max_batch_size=model.batcher.max_batch_size,
    )


@models_router.get(
    "/v1/models",
    summary="The loaded models",
    response_model=ModelsResponse,
    responses=error_responses(401, 503),
)
async def list_models(state: StateDep) -> ModelsResponse:
    models = state.require_ready().models
    return ModelsResponse(default=models.default, models=[model_info(m) for m in models])


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics (serve on an internal port or behind the proxy)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: StateDep) -> Response:
    state.refresh_gauges()
    return Response(state.metrics.render(), media_type=METRICS_CONTENT_TYPE)
