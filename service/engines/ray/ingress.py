"""The `ingress` deployment: `service.app.create_app` — the very app `vtserve serve` runs — built in the
replica with a `RayDecoder` and models whose batchers forward to their deployments.

Same routes, errors, metrics and web page, and the same admission: `service.admission.admission_limit`
requests per model in progress in this replica (`max_in_flight`), admitted from the headers by
`service.api.admit.AdmitBeforeBody` and refused with 503 + Retry-After before the body is read or anything
is sent to `decode`; why per ingress replica is in `service.engines.ray.app`. The lifespan starts and drains
it as under uvicorn (Serve runs it when the replica starts and stops).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI

from service.app import create_app
from service.commands.common import configure_logging
from service.engines.ray.decoder import RayDecoder
from service.engines.ray.handles import DeploymentCaller, Handle, here
from service.engines.ray.models import remote_models
from service.engines.ray.replicas import DECODE_DEPLOYMENT
from service.engines.ray.telemetry import EngineMetrics
from service.loaded_models import LoadedModels
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

INGRESS_DEPLOYMENT = "ingress"


class Ingress:
    """Holds the handles of the `decode` and `model-*` deployments; Serve asks it for the ASGI app."""

    def __init__(
        self,
        settings: Settings,
        decode: Handle,
        models: Mapping[str, Handle],
        startup_timeout_s: float,
    ) -> None:
        configure_logging(settings.log_level)
        self._settings = settings
        self._decode = decode
        self._models = dict(models)
        self._startup_timeout_s = startup_timeout_s
        self.metrics = Metrics()
        placement = here(INGRESS_DEPLOYMENT)
        self.engine = EngineMetrics(self.metrics.registry, placement)
        log.info("ingress replica %s on node %s", placement.replica_id, placement.node_id)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Called by Serve once, after `__init__`; Serve then runs the app's lifespan."""
        return create_app(
            self._settings,
            metrics=self.metrics,
            decoder_factory=self._decoder,
            models_factory=self._load_models,
        )

    def _decoder(self, settings: Settings) -> RayDecoder:
        return RayDecoder(DeploymentCaller(self._decode, DECODE_DEPLOYMENT), settings, self.engine)

    def _load_models(self, settings: Settings, metrics: Metrics) -> LoadedModels:
        return remote_models(
            settings, metrics, self.engine, self._models, startup_timeout_s=self._startup_timeout_s
        )
