"""The Serve application: `build` is its import path (`service.engines.ray.app:build`, see
`deploy/ray/serve.yaml`); `application` builds it from `Settings` (`vtserve serve --engine ray`).

    HTTP ─► Serve proxy ─► ingress (create_app) ─┬─► decode          (CPU; DecoderPool per replica)
                                                 └─► model-<name> ×N  (runtime + Batcher per replica)

Each deployment autoscales on ongoing requests between `min_replicas` and `max_replicas`, with a target and a
`max_ongoing_requests` derived from the settings unless given: a decode replica is offered twice as many
uploads as it has workers (one waiting per worker) and targets one per worker; a model replica is offered
two batches' worth of clips (one running, one filling) and targets one batch. `resources` pins replicas to
nodes that declare a custom resource (`ray start --resources='{"vtserve_decode": 4}'`). Models ask for a
GPU when the runtime would use one and the cluster has GPUs (`num_gpus` overrides: set it when GPU nodes
are autoscaled from zero). Serve config overrides (`deployments:` in the YAML) apply on top.

Admission has one owner, as under `vtserve serve`: `service.admission` (`admission_limit(settings)`, the
`Admission` of the ingress's `Predictor`), applied from the headers by `service.api.admit.AdmitBeforeBody` in
the ingress's `create_app`: 503 + Retry-After before the body is read, nothing sent to `decode`. It is taken
per ingress replica, because that is where a request lives: Serve routes each HTTP request to one ingress
replica, which holds it from upload to answer, while the decode and model replicas see only the calls of
requests already admitted (a cluster-wide count would cost a call to a shared actor before every refusal).
So each ingress replica admits `admission_limit` requests per model, exactly as one `vtserve serve` process;
the cluster admits that times the ingress replicas, which Serve scales with `target_ongoing_requests` set to
that limit. The ingress's `max_ongoing_requests` is the limit and the waiting line (`admission_max_waiting`,
when `admission_wait_ms` is set) for every model plus room for the refusals and GETs, so Serve hands
requests to admission rather than queueing them in its proxy. The decode and model
deployments decide nothing: their `max_ongoing_requests` spread the admitted requests' calls, and calls
beyond them wait in the ingress's handle, a queue bounded by admission. The default limit (two batches plus
`decoder_workers`) fits one replica of each stage; set `max_in_flight` for the replicas behind one ingress.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from service.admission import admission_limit, waiting_room
from service.bundles import configured_names
from service.engines.ray.handles import cluster_gpus, serve_module
from service.engines.ray.ingress import INGRESS_DEPLOYMENT, Ingress
from service.engines.ray.replicas import DECODE_DEPLOYMENT, DecodeReplica, ModelReplica, model_deployment
from service.settings import Settings


class DeploymentOptions(BaseModel):
    """Scaling and placement of one deployment. None = the role's default (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float | None = Field(default=None, gt=0)
    max_ongoing_requests: int | None = Field(default=None, ge=1)
    num_cpus: float | None = Field(default=None, ge=0, description="logical CPUs each replica reserves")
    num_gpus: float | None = Field(default=None, ge=0, description="models only; None = auto")
    resources: dict[str, float] = Field(default_factory=dict, description="custom resources per replica")


class RayAppOptions(BaseModel):
    """The builder's arguments (`args:` in a Serve config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: dict[str, JsonValue] = Field(
        default_factory=dict, description="vtserve settings (as in a VTSERVE_CONFIG file) for every replica"
    )
    ingress: DeploymentOptions = Field(default_factory=DeploymentOptions)
    decode: DeploymentOptions = Field(default_factory=lambda: DeploymentOptions(max_replicas=2))
    model: DeploymentOptions = Field(default_factory=DeploymentOptions)
    startup_timeout_s: float = Field(
        default=600.0, gt=0, description="the ingress waits this long for models"
    )


#: Logical CPUs per replica when not given: small enough that one of each fits any 2-CPU cluster. On real
#: nodes reserve what replicas use: `decoder_workers` per decode replica, the runtime's threads per model.
DEFAULT_CPUS = {INGRESS_DEPLOYMENT: 0.1, DECODE_DEPLOYMENT: 0.5, "model": 0.4}

#: Requests an ingress replica takes beyond those it can admit: refusals (answered at once) and GETs.
REFUSAL_ROOM = 32


def uses_gpu(settings: Settings) -> bool:
    """Whether the configured runtime runs models on a GPU when one is present."""
    if settings.runtime == "tensorrt":
        return True
    if settings.runtime == "torch":
        return settings.device != "cpu"
    return any(provider in ("cuda", "tensorrt") for provider in settings.providers)


def deployment_config(
    options: DeploymentOptions, *, cpus: float, gpus: float, target: float, max_ongoing: int
) -> dict[str, Any]:
    """Keyword arguments of `serve.deployment` for one deployment (its options win over the defaults)."""
    actor: dict[str, Any] = {
        "num_cpus": cpus if options.num_cpus is None else options.num_cpus,
        "num_gpus": gpus if options.num_gpus is None else options.num_gpus,
    }
    if options.resources:
        actor["resources"] = dict(options.resources)
    return {
        "ray_actor_options": actor,
        "max_ongoing_requests": options.max_ongoing_requests or max_ongoing,
        "autoscaling_config": {
            "min_replicas": options.min_replicas,
            "max_replicas": max(options.max_replicas, options.min_replicas, 1),
            "target_ongoing_requests": options.target_ongoing_requests or target,
        },
    }


def deployment_configs(settings: Settings, options: RayAppOptions, models: int) -> dict[str, dict[str, Any]]:
    """`serve.deployment` arguments by role: `ingress`, `decode` and `model` (the same for every model)."""
    workers, batch = settings.decoder_workers, settings.max_batch_size
    admitted = admission_limit(settings)  # per model and ingress replica (see the module docstring)
    # admission holds or refuses them all before Serve would queue: admitted, waiting for a slot, refused
    ingress_ongoing = (admitted + waiting_room(settings)) * models + REFUSAL_ROOM
    model_gpus = 1.0 if uses_gpu(settings) and options.model.num_gpus is None and cluster_gpus() > 0 else 0.0
    return {
        INGRESS_DEPLOYMENT: deployment_config(
            options.ingress,
            cpus=DEFAULT_CPUS[INGRESS_DEPLOYMENT],
            gpus=0.0,
            target=admitted,
            max_ongoing=ingress_ongoing,
        )
        | {"graceful_shutdown_timeout_s": settings.graceful_timeout_s},
        DECODE_DEPLOYMENT: deployment_config(
            options.decode,
            cpus=DEFAULT_CPUS[DECODE_DEPLOYMENT],
            gpus=0.0,
            target=workers,
            max_ongoing=2 * workers,
        ),
        "model": deployment_config(
            options.model, cpus=DEFAULT_CPUS["model"], gpus=model_gpus, target=batch, max_ongoing=2 * batch
        ),
    }


def application(settings: Settings, options: RayAppOptions | None = None) -> object:
    """The bound Serve application (`serve.run` takes it) for these settings."""
    options = options or RayAppOptions()
    serve = serve_module()
    names = configured_names(settings)
    configs = deployment_configs(settings, options, len(names))
    decode = serve.deployment(DecodeReplica, name=DECODE_DEPLOYMENT, **configs[DECODE_DEPLOYMENT]).bind(
        settings
    )
    models = {
        name: serve.deployment(ModelReplica, name=model_deployment(name), **configs["model"]).bind(
            name, settings
        )
        for name in names
    }
    ingress = serve.deployment(
        serve.ingress()(Ingress), name=INGRESS_DEPLOYMENT, **configs[INGRESS_DEPLOYMENT]
    )
    return ingress.bind(settings, decode, models, options.startup_timeout_s)


def build(args: dict[str, Any]) -> object:
    """Serve's application builder: `args` is the config's `args:` mapping (see `RayAppOptions`)."""
    options = RayAppOptions.model_validate(args)
    values: dict[str, Any] = dict(options.settings)  # VTSERVE_* in the building process apply too
    return application(Settings(**values), options)
