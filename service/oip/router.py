"""`/v2`: the Open Inference Protocol's REST endpoints, on the same admission, decoder pool, batchers and
metrics as `/v1`.

An infer request takes one input: `video`, clips already decoded and sampled (`[B, T, H, W, 3]` uint8),
each sent straight to the model's batcher; or `clip`, encoded files decoded by the decoder pool as uploads
are. Each clip holds one admission slot (the first is taken before the body is read, as `/v1` does), and
each is one batcher item, so clips of both APIs share batches. Requests are counted in the same metric
families as `/v1/predictions`, under the same labels.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Request, Response
from numpy.typing import NDArray

from export.manifest import OUTPUT_LOGITS, OUTPUT_SPATIAL, OUTPUT_TEMPORAL
from service.api.admit import admission_slot
from service.api.deps import StateDep
from service.api.errors import status_for
from service.api.upload import body_limit, read_body
from service.batching import ItemResult
from service.errors import (
    BadRequest,
    ModelNotFound,
    NotReady,
    ServiceError,
    UnsupportedContentType,
)
from service.loaded_models import LoadedModel
from service.metrics import Metrics
from service.oip.errors import OipRoute
from service.oip.metadata import (
    LiveResponse,
    ModelMetadata,
    ModelReadyResponse,
    ReadyResponse,
    ServerMetadata,
    model_input,
    model_metadata,
    server_metadata,
)
from service.oip.openapi import INFER_BODY, responses
from service.oip.request import parse_infer_request
from service.oip.response import encode_response, plan_outputs, render_outputs
from service.oip.tensors import BytesTensor, NumericTensor, Tensor
from service.pipeline import Predictor
from service.state import ServiceState

HEADER_LENGTH = "Inference-Header-Content-Length"

health_router = APIRouter(prefix="/v2/health", route_class=OipRoute, tags=["open inference protocol"])
router = APIRouter(prefix="/v2", route_class=OipRoute, tags=["open inference protocol"])

ModelName = Annotated[str, Path(min_length=1, max_length=128, description="a loaded model's name")]
Version = Annotated[str, Path(min_length=1, max_length=64, description="the model's version")]


def _server_version() -> str:
    try:
        return importlib.metadata.version("vtserve")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@health_router.get("/live", summary="Liveness", response_model=LiveResponse, responses=responses(503))
async def live(state: StateDep) -> LiveResponse:
    if state.load_failed:
        raise NotReady("model loading failed; see the server log")
    return LiveResponse(live=True)


@health_router.get("/ready", summary="Readiness", response_model=ReadyResponse, responses=responses(503))
async def ready(state: StateDep) -> ReadyResponse:
    state.require_ready()
    return ReadyResponse(ready=True)


@router.get("", summary="Server metadata", response_model=ServerMetadata, responses=responses(401))
async def server() -> ServerMetadata:
    return server_metadata(_server_version())


def _lookup(state: ServiceState, name: str, version: str | None) -> tuple[Predictor, LoadedModel]:
    predictor = state.require_ready()
    try:
        model = predictor.models.get(name)
    except ModelNotFound:
        raise ModelNotFound(f"unknown model {name!r}; these are loaded: {predictor.models.names()}") from None
    if version is not None and version != model.manifest.version:
        message = f"model {name!r} has no version {version!r} (serving {model.manifest.version!r})"
        raise ModelNotFound(message)
    return predictor, model


def _metadata(model: LoadedModel) -> ModelMetadata:
    manifest = model.manifest
    return model_metadata(
        model.name,
        version=manifest.version,
        inputs=manifest.inputs,
        outputs=manifest.outputs,
        runtime=model.runtime.name,
    )


_META: dict[str, Any] = {"response_model": ModelMetadata, "responses": responses(401, 404, 503)}
_READY: dict[str, Any] = {"response_model": ModelReadyResponse, "responses": responses(401, 404, 503)}


@router.get("/models/{model_name}", summary="Model metadata", **_META)
async def get_model(state: StateDep, model_name: ModelName) -> ModelMetadata:
    return _metadata(_lookup(state, model_name, None)[1])


@router.get("/models/{model_name}/versions/{model_version}", summary="Model metadata", **_META)
async def get_model_version(state: StateDep, model_name: ModelName, model_version: Version) -> ModelMetadata:
    return _metadata(_lookup(state, model_name, model_version)[1])


@router.get("/models/{model_name}/ready", summary="Model readiness", **_READY)
async def get_model_ready(state: StateDep, model_name: ModelName) -> ModelReadyResponse:
    return ModelReadyResponse(name=_lookup(state, model_name, None)[1].name, ready=True)


@router.get("/models/{model_name}/versions/{model_version}/ready", summary="Model readiness", **_READY)
async def get_model_version_ready(
    state: StateDep, model_name: ModelName, model_version: Version
) -> ModelReadyResponse:
    return ModelReadyResponse(name=_lookup(state, model_name, model_version)[1].name, ready=True)


_INFER: dict[str, Any] = {
    "response_class": Response,
    "responses": responses(200, 400, 401, 404, 413, 415, 422, 500, 503, 504),
    "openapi_extra": INFER_BODY,
}


@router.post("/models/{model_name}/infer", summary="Inference", **_INFER)
async def infer(request: Request, state: StateDep, model_name: ModelName) -> Response:
    return await _infer(request, state, model_name, None)


@router.post("/models/{model_name}/versions/{model_version}/infer", summary="Inference", **_INFER)
async def infer_version(
    request: Request, state: StateDep, model_name: ModelName, model_version: Version
) -> Response:
    return await _infer(request, state, model_name, model_version)


# --- inference ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    model: str = "unknown"
    status: int = 500


@contextmanager
def _counted(metrics: Metrics) -> Iterator[_Outcome]:
    """Count one request in the same families and labels as `/v1/predictions`."""
    started = time.perf_counter()
    outcome = _Outcome()
    metrics.inflight.inc()
    try:
        yield outcome
        outcome.status = 200
    except ServiceError as exc:
        outcome.status = status_for(exc)
        metrics.request_errors.labels(model=outcome.model, code=exc.code).inc()
        raise
    finally:
        metrics.inflight.dec()
        metrics.requests.labels(model=outcome.model, status=str(outcome.status)).inc()
        metrics.request_duration.labels(model=outcome.model).observe(time.perf_counter() - started)


async def _read_body(request: Request, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UnsupportedContentType(f"Content-Encoding {encoding!r} is not supported; send it uncompressed")
    return await read_body(request, limit, what="the request body")


async def _infer(request: Request, state: ServiceState, name: str, version: str | None) -> Response:
    settings = state.settings
    with _counted(state.metrics) as outcome, ExitStack() as slots:
        predictor, model = _lookup(state, name, version)
        outcome.model = model.name
        slots.enter_context(admission_slot(request, predictor.admission, model.name))  # from the headers
        started = time.perf_counter()
        body = await _read_body(request, body_limit(settings.max_upload_bytes))
        state.metrics.observe_stage(model.name, "upload", time.perf_counter() - started)
        parsed = await asyncio.to_thread(parse_infer_request, body, request.headers.get(HEADER_LENGTH))
        metadata = _metadata(model)
        tensor = model_input(parsed, metadata)
        plan = plan_outputs(parsed, metadata.outputs)
        clips = tensor.shape[0]
        if clips > predictor.admission.limit:  # one slot per clip: more could never be admitted
            raise BadRequest(f"a request may hold at most {predictor.admission.limit} clips, not {clips}")
        for _ in range(clips - 1):
            slots.enter_context(predictor.admission.admit(model.name))
        results = await _run(predictor, model, tensor)
        outputs = _stack(model, results)
        selected = render_outputs(plan, outputs, model.manifest.labels)
        encoded = encode_response(
            model_name=model.name,
            model_version=model.manifest.version,
            request_id=parsed.id,
            outputs=selected,
        )
    headers = {} if encoded.header_length is None else {HEADER_LENGTH: str(encoded.header_length)}
    return Response(encoded.body, media_type=encoded.media_type, headers=headers)


async def _gather(steps: Sequence[Awaitable[ItemResult]]) -> list[ItemResult]:
    """Every step's result; when any failed, the first failure, raised once all have finished."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, ItemResult)]


async def _run(predictor: Predictor, model: LoadedModel, tensor: Tensor) -> list[ItemResult]:
    """Each clip of the input through the model's batcher (decoded first when it is an encoded file)."""
    metrics = predictor.metrics

    async def infer(frames: NDArray[np.uint8]) -> ItemResult:
        result = await predictor.infer(model, frames)
        if metrics is not None:
            metrics.observe_stage(model.name, "queue", result.queue_s)
            metrics.observe_stage(model.name, "inference", result.inference_s)
        return result

    async def decode_and_infer(index: int, data: bytes) -> ItemResult:
        if not data:
            raise BadRequest(f"input 'clip': element {index} is empty")
        started = time.perf_counter()
        clip = await predictor.decode(model, data)
        if metrics is not None:
            metrics.observe_stage(model.name, "decode", time.perf_counter() - started)
        return await infer(clip.frames)

    if isinstance(tensor, BytesTensor):
        return await _gather([decode_and_infer(i, data) for i, data in enumerate(tensor.items)])
    assert isinstance(tensor, NumericTensor)
    video: NDArray[np.uint8] = tensor.array.astype(np.uint8, copy=False)
    return await _gather([infer(video[i]) for i in range(video.shape[0])])


def _stack(model: LoadedModel, results: Sequence[ItemResult]) -> dict[str, NDArray[np.float32]]:
    """The batch's outputs by name, in the manifest's order (attention only when the graph has it)."""
    per_clip: dict[str, list[NDArray[np.float32] | None]] = {
        OUTPUT_LOGITS: [r.logits for r in results],
        OUTPUT_TEMPORAL: [r.temporal for r in results],
        OUTPUT_SPATIAL: [r.spatial for r in results],
    }
    outputs: dict[str, NDArray[np.float32]] = {}
    for spec in model.manifest.outputs:
        arrays = [a for a in per_clip.get(spec.name, []) if a is not None]
        if arrays and len(arrays) == len(results):
            outputs[spec.name] = np.stack(arrays).astype(np.float32, copy=False)
    return outputs
