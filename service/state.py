"""What one app instance holds while it runs: settings, metrics, results, and (once loaded) the models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.errors import NotReady
from service.metrics import Metrics
from service.pipeline import Prediction, Predictor
from service.settings import Settings
from service.store import MemoryResultStore, ResultStore


@dataclass(kw_only=True)
class ServiceState:
    settings: Settings
    metrics: Metrics
    store: ResultStore[Prediction]
    predictor: Predictor | None = None
    decoder: Any = None
    ready: bool = False
    draining: bool = False
    load_failed: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics | None = None) -> ServiceState:
        return cls(
            settings=settings,
            metrics=metrics or Metrics(),
            store=MemoryResultStore[Prediction](ttl_s=settings.result_ttl_s, max_items=settings.max_results),
        )

    def begin_drain(self) -> None:
        """Stop admitting new predictions; readiness fails from now on."""
        self.draining = True

    def require_ready(self) -> Predictor:
        if self.draining:
            raise NotReady("the server is shutting down; retry on another instance")
        if not self.ready or self.predictor is None:
            message = "model loading failed; see the server log" if self.load_failed else None
            raise NotReady(message)
        return self.predictor
