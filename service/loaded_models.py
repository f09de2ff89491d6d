"""The models this process serves, once loaded: each one's bundle, runtime, batcher and decode request,
looked up by name (`LoadedModels.get`). Built by `service.loading.load_models`."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from export.manifest import Manifest
from service.batching import ItemResult
from service.decoding.types import DecodeRequest
from service.errors import ModelNotFound
from service.runtimes import Runtime

log = logging.getLogger(__name__)


class ClipBatcher(Protocol):
    """What serving needs from a model's batcher: `service.batching.Batcher` in this process, or one that
    forwards each clip to a remote stage that batches (`service.engines.ray.models.RemoteBatcher`)."""

    max_batch_size: int

    def submit(self, frames: NDArray[np.uint8]) -> concurrent.futures.Future[ItemResult]:
        """Queue one clip `[T, H, W, 3]`; the future resolves with its outputs or a `ServiceError`."""
        ...

    def close(self, *, drain: bool = True, timeout_s: float | None = None) -> None: ...


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """One served model: its clips are decoded per `decode_request` and batched into `runtime` by
    `batcher`."""

    name: str
    bundle_dir: Path
    manifest: Manifest
    runtime: Runtime
    batcher: ClipBatcher
    decode_request: DecodeRequest


class LoadedModels:
    """The loaded models by name, and the default one (used when a request names none)."""

    def __init__(self, models: list[LoadedModel], default: str | None = None) -> None:
        if not models:
            raise ValueError("no models loaded")
        self._models = {m.name: m for m in models}
        self.default = default or models[0].name
        if self.default not in self._models:
            raise ValueError(f"default model {self.default!r} is not loaded")

    def get(self, name: str | None = None) -> LoadedModel:
        """The model called `name` (the default when None); `ModelNotFound` otherwise."""
        model = self._models.get(name or self.default)
        if model is None:
            raise ModelNotFound(f"no model named {name!r}; GET /v1/models lists them")
        return model

    def __iter__(self) -> Iterator[LoadedModel]:
        return iter(self._models.values())

    def names(self) -> list[str]:
        return list(self._models)

    def close(self, *, drain: bool = True, timeout_s: float | None = None) -> None:
        """Stop every batcher (answering what was admitted when `drain`), then release the runtimes."""
        for model in self._models.values():
            model.batcher.close(drain=drain, timeout_s=timeout_s)
        for model in self._models.values():
            try:
                model.runtime.close()
            except Exception:
                log.exception("closing the runtime of %s failed", model.name)
