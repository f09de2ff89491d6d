"""`/v1/predictions`: classify an uploaded clip, fetch a stored result, render its heatmap."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.admit import admission_slot
from service.api.deps import StateDep
from service.api.errors import error_responses, status_for
from service.api.spool import spool_upload
from service.errors import InvalidRequest, ResultNotFound, ServiceError, StoreUnavailable
from service.heatmap import render_frame, render_grid
from service.multiview import VIEWS_PATTERN, Views, run_views, single_view
from service.pipeline import Prediction
from service.schemas import AttentionInfo, LabelScore, Links, ModelRef, PredictionResponse
from service.state import ServiceState
from service.store import new_result_id

log = logging.getLogger(__name__)

PREFIX = "/v1/predictions"
router = APIRouter(prefix=PREFIX, tags=["predictions"])

NO_STORE = {"Cache-Control": "no-store"}
ID_PATH = Path(min_length=1, max_length=64, description="the `id` of a prediction")

_BINARY = {"schema": {"type": "string", "format": "binary"}}


def png_answer(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a 200 that answers with a PNG image (`png_response`)."""
    return {200: {"content": {"image/png": _BINARY}, "description": description}}


def png_response(png: bytes) -> Response:
    """A rendered PNG, answered with `Cache-Control: no-store` like the results it is drawn from."""
    return Response(png, media_type="image/png", headers=NO_STORE)


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the clip: multipart field `file`, or the raw body as video/* or "
        "application/octet-stream (mp4, mov, mkv/webm, avi, mpeg-ts)",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "video/mp4": _BINARY,
            "video/*": _BINARY,
            "application/octet-stream": _BINARY,
        },
    }
}


VIEWS_QUERY = Query(
    pattern=VIEWS_PATTERN,
    description="multi-view testing: C temporal clips × K spatial crops (K 1 or 3), logits averaged; "
    "default: the model's card (test_clips × test_crops); `1x1` is the one centre view",
    examples=["1x1", "1x3", "4x3"],
)

GET_EXAMPLES = {
    422: ("invalid_request", "frame must be in [0, 7]"),
    503: ("store_unavailable", "the result store is unavailable; retry later"),
}


def links_for(result_id: str) -> Links:
    base = f"/v1/predictions/{result_id}"
    return Links(self=base, heatmap=f"{base}/heatmap.png")


def to_response(result_id: str, p: Prediction) -> PredictionResponse:
    attention = None
    if p.temporal is not None and p.importance is not None:
        attention = AttentionInfo(
            frame_importance=list(p.importance),
            temporal=p.temporal.tolist(),
            timestamps_s=list(p.token_timestamps),
        )
    return PredictionResponse(
        id=result_id,
        model=ModelRef(name=p.model, version=p.version),
        labels=[LabelScore(label=label, score=min(max(score, 0.0), 1.0)) for label, score in p.labels],
        clip=p.clip,
        attention=attention,
        links=links_for(result_id),
        timings_ms=p.timings_ms,
        views=p.views or single_view(p.clip),
    )


@router.post(
    "",
    summary="Classify a clip",
    response_model=PredictionResponse,
    responses=error_responses(400, 401, 404, 413, 415, 422, 500, 503, 504),
    openapi_extra=UPLOAD_BODY,
)
async def create_prediction(
    request: Request,
    response: Response,
    state: StateDep,
    model: Annotated[
        str | None, Query(max_length=128, description="model name (default: the configured default)")
    ] = None,
    top_k: Annotated[int, Query(ge=1, le=100, description="how many labels to return")] = 5,
    attention: Annotated[bool, Query(description="include temporal attention")] = True,
    views: Annotated[str | None, VIEWS_QUERY] = None,
) -> PredictionResponse:
    started = time.perf_counter()
    metrics = state.metrics
    label = "unknown"
    status = 500
    metrics.inflight.inc()
    try:
        predictor = state.require_ready()
        loaded = predictor.models.get(model)
        label = loaded.name
        chosen = Views.parse(views) if views is not None else Views.default_for(loaded)
        with admission_slot(request, predictor.admission, loaded.name):  # taken before the body
            # spooled to a file as it arrives; the decoder worker reads it there (no copy in memory)
            spool = await spool_upload(request, state.settings.max_upload_bytes, state.settings.spool_dir)
            try:
                upload_s = time.perf_counter() - started
                if chosen.single:
                    prediction = await predictor.run(
                        loaded, spool.path, k=top_k, attention=attention, started=started, upload_s=upload_s
                    )
                else:
                    prediction = await run_views(
                        predictor, loaded, spool.path, chosen, k=top_k, attention=attention, started=started
                    )
            finally:
                spool.remove()
        result_id = await _save(state, prediction)
        response.headers.update(NO_STORE)
        response.headers["Location"] = links_for(result_id).self
        status = 200
        return to_response(result_id, prediction)
    except ServiceError as exc:
        status = status_for(exc)
        metrics.request_errors.labels(model=label, code=exc.code).inc()
        raise
    except StarletteHTTPException as exc:  # multipart errors (400)
        status = exc.status_code
        raise
    finally:
        metrics.inflight.dec()
        metrics.requests.labels(model=label, status=str(status)).inc()
        metrics.request_duration.labels(model=label).observe(time.perf_counter() - started)


async def _save(state: ServiceState, prediction: Prediction) -> str:
    """Store the result; when the store is down the answer still goes out in full (its id then finds
    nothing later), and the failed write is counted and logged."""
    try:
        return await state.store.put(prediction)
    except StoreUnavailable as exc:
        state.metrics.result_store_errors.labels(operation="put").inc()
        log.warning("result not stored (%s): %s", state.stores.description, exc.__cause__ or exc)
        return new_result_id()


async def _lookup(state: ServiceState, prediction_id: str) -> Prediction:
    try:
        prediction = await state.store.get(prediction_id)
    except StoreUnavailable as exc:
        state.metrics.result_store_errors.labels(operation="get").inc()
        log.warning("result store unavailable (%s): %s", state.stores.description, exc.__cause__ or exc)
        raise
    if prediction is None:
        raise ResultNotFound()
    return prediction


@router.get(
    "/{prediction_id}",
    summary="Fetch a stored prediction",
    response_model=PredictionResponse,
    responses=error_responses(401, 404, 422, 503, examples=GET_EXAMPLES),
)
async def get_prediction(
    response: Response, state: StateDep, prediction_id: Annotated[str, ID_PATH]
) -> PredictionResponse:
    prediction = await _lookup(state, prediction_id)
    response.headers.update(NO_STORE)
    return to_response(prediction_id, prediction)


@router.get(
    "/{prediction_id}/heatmap.png",
    summary="Attention heatmap of a prediction",
    response_class=Response,
    responses={
        **png_answer(
            "the sampled frames in a grid (4 per row; small frames enlarged to at least 128 px), each "
            "overlaid with its spatial attention and labelled with its timestamp and importance; with "
            "`frame`, that frame alone at the sampled resolution"
        ),
        **error_responses(401, 404, 422, 503, examples=GET_EXAMPLES),
    },
)
async def get_heatmap(
    state: StateDep,
    prediction_id: Annotated[str, ID_PATH],
    frame: Annotated[int | None, Query(ge=0, le=1023, description="one temporal token's frame")] = None,
) -> Response:
    p = await _lookup(state, prediction_id)
    count = p.frames.shape[0]
    if frame is not None and frame >= count:
        raise InvalidRequest(f"frame must be in [0, {count - 1}]")
    if frame is None:
        png = await asyncio.to_thread(render_grid, p.frames, p.spatial, p.token_timestamps, p.importance)
    else:
        png = await asyncio.to_thread(
            render_frame, p.frames, p.spatial, p.token_timestamps, p.importance, frame
        )
    return png_response(png)
