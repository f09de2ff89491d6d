"""The ingress's models: each a `LoadedModel` whose batcher and runtime forward to the model's deployment.

`RemoteBatcher.submit` sends one clip per call; the deployment's replicas batch the clips of every ingress
replica together. The ingress records the same `vtserve_*` series as `vtserve serve` (queue depth, queue
time and successes per model, and every batch size, which the replicas report with their answers). A call
is bounded by `request_timeout_s`, the limit `vtserve serve` puts on inference: past it `InferenceTimeout`
(504); a replica or node lost twice in a row, `ReplicaLost` (503 `not_ready`, retryable).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from service.batching import ItemResult
from service.engines.ray.handles import (
    CallError,
    CallFailed,
    CallLost,
    CallOverloaded,
    CallTimeout,
    DeploymentCaller,
    Handle,
)
from service.engines.ray.replicas import model_deployment
from service.engines.ray.replies import ModelDescription, ModelReply
from service.engines.ray.telemetry import EngineMetrics
from service.errors import InferenceFailed, InferenceTimeout, NotReady, Overloaded, ServiceError
from service.loaded_models import LoadedModel, LoadedModels
from service.loading import decode_request_for
from service.metrics import Metrics
from service.runtimes import InputSpec, RuntimeOutputs
from service.runtimes.base import input_spec_from_manifest
from service.settings import Settings

log = logging.getLogger(__name__)

#: While the models start, each `describe` call waits this long before it is sent again.
DESCRIBE_TIMEOUT_S = 10.0


class ReplicaLost(NotReady):
    """The model replica (or its node) serving this request was lost; another may answer a retry."""

    default_message = "the replica serving this model was lost; retry"


def service_error(error: CallError, model: str) -> ServiceError:
    """The error a client gets for a model call that did not produce the replica's answer."""
    if isinstance(error, CallTimeout):
        return InferenceTimeout()
    if isinstance(error, CallLost):
        return ReplicaLost(f"the replica serving model {model!r} was lost; retry")
    if isinstance(error, CallOverloaded):
        return Overloaded(f"every replica of model {model!r} is busy; retry later")
    assert isinstance(error, CallFailed)
    return InferenceFailed()


class RemoteBatcher:
    """A `ClipBatcher` whose clips are batched by the model's deployment. `submit` runs on the event loop."""

    def __init__(
        self,
        caller: DeploymentCaller,
        description: ModelDescription,
        *,
        timeout_s: float,
        metrics: Metrics,
        engine: EngineMetrics,
    ) -> None:
        self.model = description.name
        self.max_batch_size = description.max_batch_size
        self._caller = caller
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._engine = engine
        self._lock = threading.Condition()
        self._pending: set[concurrent.futures.Future[ItemResult]] = set()
        self._closed = False

    @property
    def depth(self) -> int:
        """Clips sent and not yet answered."""
        return len(self._pending)

    def submit(self, frames: NDArray[np.uint8]) -> concurrent.futures.Future[ItemResult]:
        """Send one clip `[T, H, W, 3]` (`NotReady` once closed); cancelling the future cancels the call."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise NotReady("the model is shutting down; retry later")
            future = asyncio.run_coroutine_threadsafe(self._infer(frames), loop)
            self._pending.add(future)
            self._metrics.queue_depth.labels(model=self.model).set(len(self._pending))
        future.add_done_callback(self._on_done)
        return future

    async def _infer(self, frames: NDArray[np.uint8]) -> ItemResult:
        try:
            reply = await self._caller.call("infer", frames, timeout_s=self._timeout_s)
        except CallError as exc:
            raise service_error(exc, self.model) from None
        if not isinstance(reply, ModelReply):
            raise TypeError(f"model {self.model!r} answered {type(reply).__name__}")
        self._engine.answered(reply.placement)
        for size in reply.batches:
            self._metrics.batch_size.labels(model=self.model).observe(size)
        if reply.error is not None:
            raise reply.error
        if reply.result is None:
            raise TypeError(f"model {self.model!r} answered neither a result nor an error")
        self._metrics.observe_inference(self.model, reply.result.queue_s)
        return reply.result

    def _on_done(self, future: concurrent.futures.Future[ItemResult]) -> None:
        with self._lock:
            self._pending.discard(future)
            self._metrics.queue_depth.labels(model=self.model).set(len(self._pending))
            self._lock.notify_all()

    def close(self, *, drain: bool = True, timeout_s: float | None = None) -> None:
        """Refuse new clips; with `drain`, wait (up to `timeout_s`) for those sent, then cancel the rest."""
        with self._lock:
            self._closed = True
            if drain:
                self._lock.wait_for(lambda: not self._pending, timeout_s)
            left = list(self._pending)
        for future in left:
            future.cancel()


class DeploymentRuntime:
    """The `Runtime` of a model served by a deployment: what it runs on there, and whole-batch calls.

    The replicas warm up and close their own runtimes, so `warmup` and `close` have nothing to do here."""

    def __init__(self, caller: DeploymentCaller, description: ModelDescription, *, timeout_s: float) -> None:
        self.name = description.runtime
        self.provider = description.provider
        self.input_spec: InputSpec = input_spec_from_manifest(
            description.manifest, description.max_batch_size
        )
        self._caller = caller
        self._model = description.name
        self._timeout_s = timeout_s

    def warmup(self) -> None:
        return None

    def infer(self, batch: NDArray[np.uint8]) -> RuntimeOutputs:
        """A whole batch through one replica's runtime (blocking: call it off the event loop)."""
        try:
            outputs = self._caller.call_blocking("infer_batch", batch, timeout_s=self._timeout_s)
        except CallError as exc:
            raise service_error(exc, self._model) from None
        if not isinstance(outputs, RuntimeOutputs):
            raise TypeError(f"model {self._model!r} answered {type(outputs).__name__}")
        return outputs

    def close(self) -> None:
        return None


def describe(caller: DeploymentCaller, deadline: float) -> ModelDescription:
    """The model's description from one of its replicas, asked again until one answers or `deadline`."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{caller.deployment}: no replica answered before the startup deadline")
        try:
            answer = caller.call_blocking("describe", timeout_s=min(DESCRIBE_TIMEOUT_S, remaining))
        except (CallTimeout, CallLost) as exc:
            log.info("waiting for %s (%s)", caller.deployment, exc)
            continue
        if not isinstance(answer, ModelDescription):
            raise TypeError(f"{caller.deployment} answered {type(answer).__name__}")
        return answer


def remote_models(
    settings: Settings,
    metrics: Metrics,
    engine: EngineMetrics,
    handles: Mapping[str, Handle],
    *,
    startup_timeout_s: float,
) -> LoadedModels:
    """A `LoadedModel` per configured name (in order) once its deployment answers (blocking)."""
    deadline = time.monotonic() + startup_timeout_s
    loaded: list[LoadedModel] = []
    for name, handle in handles.items():
        caller = DeploymentCaller(handle, model_deployment(name))
        description = describe(caller, deadline)
        engine.answered(description.placement)
        runtime = DeploymentRuntime(caller, description, timeout_s=settings.request_timeout_s)
        batcher = RemoteBatcher(
            caller, description, timeout_s=settings.request_timeout_s, metrics=metrics, engine=engine
        )
        metrics.model_info.labels(
            model=description.name,
            version=description.manifest.version,
            runtime=runtime.name,
            provider=runtime.provider,
        ).set(1)
        log.info("model %s served by %s (%s)", description.name, caller.deployment, runtime.provider)
        loaded.append(
            LoadedModel(
                name=description.name,
                bundle_dir=description.bundle_dir,
                manifest=description.manifest,
                runtime=runtime,
                batcher=batcher,
                decode_request=decode_request_for(description.manifest),
            )
        )
    return LoadedModels(loaded, settings.default_model)
