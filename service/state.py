"""What one app instance holds while it runs: settings, metrics, results, the decoder and (once loaded) the
predictor over the models."""

from __future__ import annotations

from dataclasses import dataclass

from service.decoding.protocol import Decoder
from service.errors import NotReady
from service.metrics import Metrics
from service.pipeline import Prediction, Predictor
from service.settings import Settings
from service.store import ResultStore, StoreBackend, open_backend
from service.store.prediction_codec import PREDICTION_CODEC
from service.timelines.record import TIMELINE_CODEC
from service.timelines.registry import Timelines


@dataclass(kw_only=True)
class ServiceState:
    settings: Settings
    metrics: Metrics
    stores: StoreBackend  # memory or a shared Redis (settings.result_store); one store per result kind
    store: ResultStore[Prediction]
    timelines: Timelines  # running timelines (at most settings.max_timelines) and the finished ones' store
    decoder: Decoder | None = None  # set by the lifespan once the decoder pool runs
    predictor: Predictor | None = None  # set once the models are loaded and warmed up
    ready: bool = False
    draining: bool = False
    load_failed: bool = False

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics | None = None) -> ServiceState:
        stores = open_backend(settings)
        metrics = metrics or Metrics()
        return cls(
            settings=settings,
            metrics=metrics,
            stores=stores,
            store=stores.open(PREDICTION_CODEC, kind="prediction"),
            timelines=Timelines(
                stores.open(TIMELINE_CODEC, kind="timeline"),
                max_running=settings.max_timelines,
                metrics=metrics,
            ),
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

    def refresh_gauges(self) -> None:
        """Bring the decoder-worker gauges up to date (called before `/metrics` renders)."""
        if self.decoder is not None:
            self.metrics.observe_decoder(
                alive_workers=self.decoder.alive_workers, replaced_total=self.decoder.replaced
            )
