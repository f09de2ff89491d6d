"""The Ray engine's worker deployments, as plain classes (`app.build` turns them into Serve deployments).

* `DecodeReplica` (deployment `decode`): the same hardened `DecoderPool` as `vtserve serve` — worker
  processes with memory, CPU-time and wall-clock limits, replaced when they crash — one pool per replica.
* `ModelReplica` (deployment `model-<name>`, one per model): the model's runtime behind the same dynamic
  `Batcher` as `vtserve serve` (`max_batch_size`, `max_wait_ms`, a queue bounded at `max_queue`, a failed
  batch fails only its own clips). Each call submits one clip; concurrent calls fill the batches, so the
  deployment's `max_ongoing_requests` must exceed `max_batch_size` (Serve's default of 5 would cap every
  batch at 5).

Neither decides admission: that is the ingress's (`service.admission`, see `app`); these replicas serve
the calls of requests it admitted (`max_queue` is a bound on the batcher, not an admission decision).

Replicas read bundles, never write them: a model's bundle must already exist on the replica's node
(`vtserve export`, or `vtserve serve --engine ray`, which exports shipped models before deploying).
"""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
from numpy.typing import NDArray

from export.manifest import read_manifest
from service.app import default_decoder
from service.bundles import resolve_bundle, served_name
from service.commands.common import configure_logging
from service.decoding.types import DecodedClip, DecodeRequest
from service.engines.ray.handles import here
from service.engines.ray.replies import DecodeReply, DecoderHealth, ModelDescription, ModelReply
from service.errors import NotReady, ServiceError
from service.loaded_models import LoadedModel
from service.loading import load_model, runtime_options
from service.runtimes import Runtime, RuntimeOutputs, create_runtime
from service.settings import Settings

log = logging.getLogger(__name__)

DECODE_DEPLOYMENT = "decode"


def model_deployment(name: str) -> str:
    """The deployment that serves the model configured as `name` (a bundle path counts by its folder)."""
    return f"model-{served_name(name)}"


class DecodeReplica:
    """Decodes uploads in this replica's worker pool; answers clips or the upload's error."""

    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._pool = default_decoder(settings)
        self.placement = here(DECODE_DEPLOYMENT)
        log.info(
            "decode replica %s on node %s: %d decoder workers",
            self.placement.replica_id,
            self.placement.node_id,
            settings.decoder_workers,
        )

    def _reply(self, clips: tuple[DecodedClip, ...] = (), error: ServiceError | None = None) -> DecodeReply:
        health = DecoderHealth(alive=self._pool.alive_workers, replaced=self._pool.replaced)
        return DecodeReply(clips=clips, error=error, placement=self.placement, health=health)

    async def decode(self, data: bytes, request: DecodeRequest) -> DecodeReply:
        try:
            return self._reply((await self._pool.decode(data, request),))
        except ServiceError as exc:
            return self._reply(error=exc)

    async def decode_views(self, data: bytes, request: DecodeRequest) -> DecodeReply:
        try:
            return self._reply(await self._pool.decode_views(data, request))
        except ServiceError as exc:
            return self._reply(error=exc)

    def close(self) -> None:
        """Stop the workers (idempotent); Serve calls `__del__` when it stops the replica."""
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()

    def __del__(self) -> None:
        self.close()


class BatchLog:
    """A runtime that remembers the size of every batch it runs until `take` hands them over."""

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.name = inner.name
        self.input_spec = inner.input_spec
        self.provider = inner.provider
        self._lock = threading.Lock()
        self._sizes: list[int] = []

    def warmup(self) -> None:
        self.inner.warmup()

    def infer(self, batch: NDArray[np.uint8]) -> RuntimeOutputs:
        outputs = self.inner.infer(batch)
        with self._lock:
            self._sizes.append(int(batch.shape[0]))
        return outputs

    def take(self) -> tuple[int, ...]:
        with self._lock:
            sizes, self._sizes = tuple(self._sizes), []
        return sizes

    def close(self) -> None:
        self.inner.close()


class ModelReplica:
    """One model: its runtime (warmed up) behind a started `Batcher`."""

    def __init__(self, name: str, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._settings = settings
        bundle = resolve_bundle(name, settings, allow_export=False)
        runtime = create_runtime(settings.runtime, bundle, read_manifest(bundle), runtime_options(settings))
        self._batches = BatchLog(runtime)
        self._model: LoadedModel | None = load_model(
            served_name(name), bundle, settings, None, runtime=self._batches
        )
        self._batches.take()  # the warm-up batch served no one
        self.placement = here(model_deployment(name))
        log.info(
            "model replica %s of %s on node %s (%s)",
            self.placement.replica_id,
            self.model.name,
            self.placement.node_id,
            runtime.provider,
        )

    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            raise NotReady("the model replica is stopping; retry")
        return self._model

    async def describe(self) -> ModelDescription:
        model = self.model
        return ModelDescription(
            name=model.name,
            bundle_dir=model.bundle_dir,
            manifest=model.manifest,
            runtime=model.runtime.name,
            provider=model.runtime.provider,
            max_batch_size=model.batcher.max_batch_size,
            placement=self.placement,
        )

    async def infer(self, frames: NDArray[np.uint8]) -> ModelReply:
        """One clip `[T, H, W, 3]` through the batcher (cancelled with the call that asked for it)."""
        try:
            result = await asyncio.wrap_future(self.model.batcher.submit(frames))
        except ServiceError as exc:
            return ModelReply(error=exc, placement=self.placement, batches=self._batches.take())
        return ModelReply(result=result, placement=self.placement, batches=self._batches.take())

    async def infer_batch(self, batch: NDArray[np.uint8]) -> RuntimeOutputs:
        """A whole batch `[B, T, H, W, 3]` straight through the runtime (no batcher)."""
        return await asyncio.to_thread(self._batches.infer, batch)

    def close(self) -> None:
        """Answer what the batcher holds, then release the runtime (idempotent; Serve calls `__del__`)."""
        model, self._model = getattr(self, "_model", None), None
        if model is not None:
            model.batcher.close(drain=True, timeout_s=self._settings.graceful_timeout_s)
            model.runtime.close()

    def __del__(self) -> None:
        self.close()
