"""deploy/ray/: the Serve config and the KubeRay RayService hold real settings and options, ask for what their
nodes declare, and (with `KUBERAY_CRDS=<kuberay checkout>/ray-operator/config/crd/bases`) fit KubeRay's CRD.

The Serve config itself is deployed with `serve run` on a real cluster by test_ray_cluster.py.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

from service.admission import admission_limit  # noqa: E402
from service.engines.ray.app import (  # noqa: E402
    REFUSAL_ROOM,
    DeploymentOptions,
    RayAppOptions,
    build,
    deployment_configs,
    uses_gpu,
)
from service.settings import Settings  # noqa: E402
from tests.service.oip.test_kserve_example import _unknown_fields  # noqa: E402

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "ray"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    return document


def application(config: dict[str, Any]) -> dict[str, Any]:
    (app,) = config["applications"]
    app_config: dict[str, Any] = app
    return app_config


def options_of(app: dict[str, Any]) -> tuple[Settings, RayAppOptions]:
    """The builder's arguments as Serve would pass them, validated as the builder does."""
    module, _, name = app["import_path"].partition(":")
    assert getattr(importlib.import_module(module), name) is build
    options = RayAppOptions.model_validate(app["args"])
    return Settings(**options.settings), options


def service_spec() -> dict[str, Any]:
    document = load("rayservice.yaml")
    spec: dict[str, Any] = document["spec"]
    return spec


def test_serve_config_is_deployable_as_is() -> None:
    config = load("serve.yaml")
    app = application(config)
    settings, options = options_of(app)
    working_dir = app.get("runtime_env", {}).get("working_dir")
    assert working_dir is None or "://" in working_dir  # Serve refuses a bare path
    configs = deployment_configs(settings, options, len(settings.models))
    model, decode = configs["model"], configs["decode"]
    assert model["max_ongoing_requests"] == 2 * settings.max_batch_size > 5  # Serve's default caps at 5
    assert model["autoscaling_config"]["target_ongoing_requests"] == settings.max_batch_size
    assert model["ray_actor_options"]["num_gpus"] == 0  # providers: cpu
    assert decode["ray_actor_options"]["num_cpus"] == settings.decoder_workers
    assert decode["autoscaling_config"]["max_replicas"] > decode["autoscaling_config"]["min_replicas"]
    assert config["http_options"]["port"] == 8000


def _group_resources(group: dict[str, Any]) -> dict[str, float]:
    """What a Ray node of this group declares: custom resources, and CPUs/GPUs from the container."""
    (container,) = group["template"]["spec"]["containers"]
    limits = container["resources"]["limits"]
    declared = {name: float(value) for name, value in group.get("resources", {}).items()}
    declared["CPU"] = float(group["rayStartParams"].get("num-cpus", limits["cpu"]))
    declared["GPU"] = float(limits.get("nvidia.com/gpu", 0))
    return declared


def _fits(actor: dict[str, Any], node: dict[str, float]) -> bool:
    wanted = {"CPU": actor["num_cpus"], "GPU": actor["num_gpus"], **actor.get("resources", {})}
    return all(node.get(name, 0.0) >= amount for name, amount in wanted.items())


def test_rayservice_replicas_fit_the_groups_it_declares() -> None:
    spec = service_spec()
    settings, options = options_of(application(yaml.safe_load(spec["serveConfigV2"])))
    cluster = spec["rayClusterConfig"]
    major, minor, _ = (int(part) for part in cluster["rayVersion"].split("."))
    assert (major, minor) >= (2, 50)  # the `ray` extra's floor
    head = _group_resources(cluster["headGroupSpec"]) | {"GPU": 0.0}
    groups = {g["groupName"]: _group_resources(g) for g in cluster["workerGroupSpecs"]}
    configs = deployment_configs(settings, options, len(settings.models))
    actors = {role: config["ray_actor_options"] for role, config in configs.items()}
    assert not any(_fits(actor, head) for actor in actors.values())  # the head runs Serve's own actors only
    assert [name for name, node in groups.items() if _fits(actors["decode"], node)] == ["decode"]
    assert [name for name, node in groups.items() if _fits(actors["model"], node)] == ["gpu"]
    assert actors["model"]["num_gpus"] == 1
    (gpu,) = [g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gpu"]
    (mount,) = gpu["template"]["spec"]["containers"][0]["volumeMounts"]
    assert Path(mount["mountPath"]) == settings.model_repository and mount["readOnly"]


def test_rayservice_fits_kuberays_crd() -> None:
    folder = os.environ.get("KUBERAY_CRDS")
    crd = Path(folder or "") / "ray.io_rayservices.yaml"
    if not folder or not crd.is_file():
        pytest.skip("set KUBERAY_CRDS to KubeRay's ray-operator/config/crd/bases to check against its CRD")
    import jsonschema  # comes with schemathesis (the dev extra)

    document = load("rayservice.yaml")
    definition = yaml.safe_load(crd.read_text(encoding="utf-8"))
    versions = definition["spec"]["versions"]
    (version,) = [v for v in versions if document["apiVersion"] == f"ray.io/{v['name']}"]
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.validate(document, schema)
    assert _unknown_fields(document, schema) == []


@pytest.mark.parametrize(
    ("settings", "gpu"),
    [
        ({"runtime": "onnxruntime", "providers": ["cpu"]}, False),
        ({"runtime": "onnxruntime", "providers": ["cuda", "cpu"]}, True),
        ({"runtime": "tensorrt"}, True),
        ({"runtime": "torch", "device": "cpu"}, False),
        ({"runtime": "torch", "device": "auto"}, True),
    ],
)
def test_models_ask_for_a_gpu_only_when_their_runtime_uses_one(settings: dict[str, Any], gpu: bool) -> None:
    assert uses_gpu(Settings(**settings)) is gpu


def test_given_options_win_over_the_derived_ones() -> None:
    settings = Settings(providers=["cpu"], max_batch_size=4, decoder_workers=3)
    model = DeploymentOptions(
        num_gpus=0.5, max_ongoing_requests=32, target_ongoing_requests=2, max_replicas=3
    )
    options = RayAppOptions(model=model, decode=DeploymentOptions(resources={"vtserve_decode": 1}))
    configs = deployment_configs(settings, options, 2)
    assert configs["model"]["ray_actor_options"] == {"num_cpus": 0.4, "num_gpus": 0.5}
    assert configs["model"]["max_ongoing_requests"] == 32
    scaling = {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 2}
    assert configs["model"]["autoscaling_config"] == scaling
    assert configs["decode"]["ray_actor_options"]["resources"] == {"vtserve_decode": 1}
    assert configs["decode"]["max_ongoing_requests"] == 6  # two uploads per worker
    assert configs["ingress"]["max_ongoing_requests"] > 2 * admission_limit(settings)  # admission first


def test_the_ingress_is_sized_by_the_admission_limit_not_the_batcher_queue() -> None:
    settings = Settings(providers=["cpu"], max_in_flight=5, max_queue=500)
    ingress = deployment_configs(settings, RayAppOptions(), 2)["ingress"]
    assert admission_limit(settings) == 5
    assert ingress["autoscaling_config"]["target_ongoing_requests"] == 5  # scale out when one is full
    # admitted, waiting for a slot, and room for refusals, all held by admission before Serve would queue
    waiting = settings.admission_max_waiting
    assert ingress["max_ongoing_requests"] == 2 * (5 + waiting) + REFUSAL_ROOM
    at_once = Settings(providers=["cpu"], max_in_flight=5, admission_wait_ms=0)  # no line: refused at once
    assert (
        deployment_configs(at_once, RayAppOptions(), 2)["ingress"]["max_ongoing_requests"]
        == 10 + REFUSAL_ROOM
    )
    derived = Settings(providers=["cpu"], max_batch_size=4, decoder_workers=3)  # 2 batches + workers
    target = deployment_configs(derived, RayAppOptions(), 1)["ingress"]["autoscaling_config"]
    assert target["target_ongoing_requests"] == admission_limit(derived) == 11
