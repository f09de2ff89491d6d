"""deploy/k8s: both overlays render, every document passes the Kubernetes 1.37 schemas in strict mode
(kubernetes-validate, offline; a misspelt field fails), and the manifests agree with the service: probes on
its endpoints, a grace period that covers the drain, read-only serving replicas, real settings, the shared
Redis, GPUs in the gpu overlay, and HPA metrics that the prometheus-adapter rules define.

All documents are core Kubernetes kinds (autoscaling/v2 HPA, no KEDA ScaledObject), so nothing goes
unvalidated for want of a schema.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.kustomize import Doc, find, pod_spec, render

K8S = DEPLOY / "k8s"
OVERLAYS = ("cpu", "gpu")
KUBERNETES_VERSION = "1.37.0"
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, render(K8S / "overlays" / name)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_every_document_passes_the_kubernetes_schemas_strictly(overlay: tuple[str, list[Doc]]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    _name, docs = overlay
    assert {d["kind"] for d in docs} >= {
        "Namespace",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = render(K8S / "overlays" / "cpu")
    find(docs, "Deployment", "vtserve")["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        for doc in docs:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_probes_drain_and_read_only_serving(overlay: tuple[str, list[Doc]]) -> None:
    from service.settings import Settings

    _name, docs = overlay
    pod = pod_spec(docs, "Deployment", "vtserve")
    (server,) = pod["containers"]
    assert server["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = env_of(server)
    settings = Settings(graceful_timeout_s=float(env["VTSERVE_GRACEFUL_TIMEOUT_S"]))
    pre_stop = int(server["lifecycle"]["preStop"]["exec"]["command"][1])
    # preStop, then uvicorn finishes in-flight requests, then the batchers drain: each up to the timeout
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 2 * settings.graceful_timeout_s
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert mounts["/models"].get("readOnly") is True
    assert env["VTSERVE_MODEL_REPOSITORY"] == env["VTSERVE_CACHE_DIR"] == "/models"
    assert pod["initContainers"], "an init step builds the bundles the replica serves"
    assert any(
        m["name"] == "models" and not m.get("readOnly") for m in pod["initContainers"][-1]["volumeMounts"]
    )


def test_every_vtserve_variable_is_a_real_setting(overlay: tuple[str, list[Doc]]) -> None:
    from service.settings import Settings

    _name, docs = overlay
    pod = pod_spec(docs, "Deployment", "vtserve")
    names = {
        n for c in pod["containers"] + pod["initContainers"] for n in env_of(c) if n.startswith("VTSERVE_")
    }
    known = {"VTSERVE_" + f.upper() for f in Settings.model_fields}
    assert names - known == set()
    env = env_of(pod["containers"][0])
    Settings(**{k.removeprefix("VTSERVE_").lower(): v for k, v in env.items() if k.startswith("VTSERVE_")})


def test_results_go_to_the_redis_service(overlay: tuple[str, list[Doc]]) -> None:
    _name, docs = overlay
    env = env_of(pod_spec(docs, "Deployment", "vtserve")["containers"][0])
    service = find(docs, "Service", "redis")
    port = service["spec"]["ports"][0]["port"]
    assert env["VTSERVE_RESULT_STORE"] == f"redis://{service['metadata']['name']}:{port}/0"
    redis_args = pod_spec(docs, "Deployment", "redis")["containers"][0]["args"]
    assert redis_args[redis_args.index("--save") + 1] == ""  # a cache of answers: no persistence


def test_gpu_resources_only_in_the_gpu_overlay(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    pod = pod_spec(docs, "Deployment", "vtserve")
    limits = pod["containers"][0].get("resources", {}).get("limits", {})
    assert ("nvidia.com/gpu" in limits) == (name == "gpu")
    images = {c["image"] for c in pod["containers"] + pod["initContainers"]}
    assert images == {f"vtserve:{name}"}


def test_hpa_metrics_are_defined_by_the_adapter_rules(overlay: tuple[str, list[Doc]]) -> None:
    _name, docs = overlay
    hpa = find(docs, "HorizontalPodAutoscaler", "vtserve")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "vtserve"
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    defined = {r["name"]["as"] for r in rules}
    for metric in hpa["spec"]["metrics"]:
        assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] in defined
    pdb = find(docs, "PodDisruptionBudget", "vtserve")
    template = find(docs, "Deployment", "vtserve")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= template.items()  # it covers the replicas


@pytest.mark.parametrize("name", OVERLAYS)
def test_kubectl_kustomize_renders_the_same(name: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the overlays are rendered by the test renderer only")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / name)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    theirs = sorted((d for d in yaml.safe_load_all(out.stdout) if d), key=_key)
    ours = sorted(render(K8S / "overlays" / name), key=_key)
    assert theirs == ours


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def test_the_renderer_covers_every_kustomization() -> None:
    found = sorted(p.parent.relative_to(K8S).as_posix() for p in Path(K8S).rglob("kustomization.yaml"))
    assert found == ["base", "overlays/cpu", "overlays/gpu"]
