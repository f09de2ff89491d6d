"""Admission from the headers: a request to an upload route is admitted or refused before its body is read.

`AdmitBeforeBody` is a pure ASGI middleware in front of the routes that take an upload. From the method,
path and query alone it takes what the request will hold while it runs:

* `POST /v1/predictions` and the `/v2` infer routes: one of the model's slots at the one admission point
  (`Predictor.admission`, `service.admission`);
* `POST /v1/timelines`: a timeline place (`ServiceState.timelines`; its windows then take model slots one
  at a time while in the batcher, so holding a model slot for the whole stream would starve them).

A model slot may be waited for (`admission_wait_ms`; the line's order: `service.admission`) while nothing
of the body is read: uvicorn stops reading the socket once its small buffer is full.

Refused (no slot free, or none came back within the wait): the 503 (`overloaded`, `Retry-After`, in the
route's error shape) is sent and the app never runs: no routing, no body read into Python, no multipart
parsing, no spooling, no decoding. Whatever of the upload the client still sends is dropped by uvicorn's C
parser as it arrives, and the connection stays open for the client's next request. Closing it instead would
reset a connection the client is still writing to, and the client would lose the 503 (measured: most refusals
under load became transport errors). A client that sent `Expect: 100-continue` sends no body at all: it gets
the 503 with `Connection: close`, as RFC 9110 asks of a server that will not read the body.

Admitted: what it holds is put in the scope (`held_by`) and released when the request ends, its answer
sent (idempotently: a route may release it earlier). Routes take it with `admission_slot` / `held_by`, so a
request is counted once. Requests this layer cannot place (service not ready, unknown model) pass through
untouched: the route answers them (503 `not_ready`, 404) before reading any body either.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.admission import Admission, Slot
from service.api import errors as v1_errors
from service.errors import ModelNotFound, NotReady, Overloaded
from service.oip import errors as v2_errors
from service.state import ServiceState

SCOPE_KEY = "vtserve.admission"  # what this request holds (a `Slot` or a timeline lease)


class Held(Protocol):
    def release(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class UploadRoute:
    """A route that takes an upload: its path, what admits it, how a refusal is answered and counted."""

    path: re.Pattern[str]
    admit: Callable[[ServiceState, str], Awaitable[Held]]  # (state, model) -> held; raises Overloaded
    refusal: Callable[[Overloaded, int], Response]
    count: Callable[[ServiceState, str, float], None]

    def model_name(self, scope: Scope) -> str | None:
        """The model the request names (None: the default model): in the path, else `?model=`."""
        match = self.path.fullmatch(scope["path"])
        if match is not None and "model" in self.path.groupindex:
            return match.group("model")
        query = scope.get("query_string", b"").decode("latin-1")
        return next((value for key, value in parse_qsl(query) if key == "model"), None)


async def _model_slot(state: ServiceState, model: str) -> Held:
    started, waiting = time.perf_counter(), state.metrics.admission_waiting.labels(model=model)
    wait_s = state.settings.admission_wait_ms / 1000
    waiting.inc()
    try:
        slot = await state.require_ready().admission.acquire_within(model, wait_s)
    finally:
        waiting.dec()
    state.metrics.observe_stage(model, "admission", time.perf_counter() - started)
    return slot


async def _timeline_place(state: ServiceState, _model: str) -> Held:
    return state.timelines.lease()


def _count_prediction(state: ServiceState, model: str, seconds: float) -> None:
    metrics = state.metrics
    metrics.requests.labels(model=model, status="503").inc()
    metrics.request_errors.labels(model=model, code=Overloaded.code).inc()
    metrics.request_duration.labels(model=model).observe(seconds)


def _count_timeline(state: ServiceState, model: str, _seconds: float) -> None:
    state.metrics.timeline_outcomes.labels(model=model, outcome=Overloaded.code).inc()


UPLOAD_ROUTES: tuple[UploadRoute, ...] = (
    UploadRoute(
        path=re.compile(r"/v1/predictions/?"),
        admit=_model_slot,
        refusal=v1_errors.response_for,
        count=_count_prediction,
    ),
    UploadRoute(
        path=re.compile(r"/v1/timelines/?"),
        admit=_timeline_place,
        refusal=v1_errors.response_for,
        count=_count_timeline,
    ),
    UploadRoute(
        path=re.compile(r"/v2/models/(?P<model>[^/]+)(?:/versions/[^/]+)?/infer/?"),
        admit=_model_slot,
        refusal=v2_errors.response_for,
        count=_count_prediction,
    ),
)


def upload_route(scope: Scope) -> UploadRoute | None:
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    return next((r for r in UPLOAD_ROUTES if r.path.fullmatch(scope["path"])), None)


class AdmitBeforeBody:
    """Pure ASGI middleware: admit upload requests from their headers (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = upload_route(scope)
        model = None if route is None else self._model(route, scope)
        if route is None or model is None:
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        try:
            held = await route.admit(self.state, model)
        except NotReady:  # began draining since: the route answers
            await self.app(scope, receive, send)
            return
        except Overloaded as exc:
            await self._refuse(route, exc, scope, receive, send)
            route.count(self.state, model, time.perf_counter() - arrived)  # its wait for a slot included
            return
        scope[SCOPE_KEY] = held
        try:
            await self.app(scope, receive, send)
        finally:
            held.release()

    def _model(self, route: UploadRoute, scope: Scope) -> str | None:
        """The served name of the request's model; None when the route should answer (not ready,
        draining, unknown model)."""
        try:
            return self.state.require_ready().models.get(route.model_name(scope)).name
        except (NotReady, ModelNotFound):
            return None

    async def _refuse(
        self, route: UploadRoute, error: Overloaded, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = route.refusal(error, self.state.settings.retry_after_s)
        if Headers(scope=scope).get("expect", "").lower() == "100-continue":
            response.headers["Connection"] = "close"  # the body was never sent: nothing left to drop
        await response(scope, receive, send)


def held_by(scope: Scope) -> object | None:
    """What `AdmitBeforeBody` took for this request (None when it took nothing)."""
    return scope.get(SCOPE_KEY)


@contextmanager
def admission_slot(request: Request, admission: Admission, model: str) -> Iterator[Slot]:
    """The model slot `AdmitBeforeBody` took for this request (released when the request ends), or, when
    the request reached the route without one, a slot taken now (`Overloaded` when none is free)."""
    held = held_by(request.scope)
    if isinstance(held, Slot) and held.model == model:
        yield held
        return
    with admission.admit(model) as slot:
        yield slot
