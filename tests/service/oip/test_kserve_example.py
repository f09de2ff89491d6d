"""deploy/kserve/ agrees with the service: real settings, real probe paths, the same port, runtime and format
names on both sides. With KServe's CRDs at hand (`KSERVE_CRDS=<kserve checkout>/charts/kserve-crd/templates`)
both files are also validated against them, unknown fields included (the API server would drop those)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[3]
KSERVE = ROOT / "deploy" / "kserve"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((KSERVE / name).read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def runtime() -> dict[str, Any]:
    return load("servingruntime.yaml")


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    return load("inferenceservice.yaml")


def container(runtime: dict[str, Any]) -> dict[str, Any]:
    (only,) = runtime["spec"]["containers"]
    assert only["name"] == "kserve-container"
    return dict(only)


def test_env_is_real_settings_that_fit_the_ports(
    runtime: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = container(runtime)
    env = {e["name"]: e.get("value") for e in spec["env"]}
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(env) <= fields, sorted(set(env) - fields)
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if value is not None:  # the API key comes from a secret
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.models == [] and str(settings.model_repository) == "/mnt/models"
    (port,) = spec["ports"]
    assert port["containerPort"] == settings.port == 8080
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == str(settings.port)
    assert spec["securityContext"]["runAsUser"] == 10001  # the image's user


def test_probes_and_metrics_are_real_open_routes(runtime: dict[str, Any], tmp_path: Path) -> None:
    """The probes need no API key (kubelet sends none): answered 200 / 503 while starting, never 401."""
    app = create_app(Settings(models=["unused"], cache_dir=tmp_path, api_key=SecretStr("k")))
    spec = container(runtime)
    probes = [spec["livenessProbe"]["httpGet"]["path"], spec["readinessProbe"]["httpGet"]["path"]]
    assert probes == ["/v2/health/live", "/v2/health/ready"]
    metrics = runtime["spec"]["annotations"]["prometheus.kserve.io/path"]
    assert {*probes, metrics} <= set(app.openapi()["paths"])
    client = TestClient(app)  # no lifespan: the models are not loading, so the service is live, not ready
    assert client.get(probes[0]).status_code == 200
    assert client.get(probes[1]).status_code == 503
    assert client.get("/v2").status_code == 401


def test_the_service_uses_the_runtime(runtime: dict[str, Any], service: dict[str, Any]) -> None:
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]
    formats = {(f["name"], f["version"]) for f in runtime["spec"]["supportedModelFormats"]}
    assert (model["modelFormat"]["name"], model["modelFormat"]["version"]) in formats


def _unknown_fields(document: object, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare (Kubernetes prunes them silently instead of refusing them)."""
    found: list[str] = []
    if isinstance(document, dict):
        declared, extra = schema.get("properties"), schema.get("additionalProperties")
        for key, value in document.items():
            if declared is not None and key in declared:
                found += _unknown_fields(value, declared[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += _unknown_fields(value, extra, f"{path}.{key}")
            elif declared is not None and not schema.get("x-kubernetes-preserve-unknown-fields"):
                found.append(f"{path}.{key}")
    elif isinstance(document, list) and "items" in schema:
        for i, item in enumerate(document):
            found += _unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


@pytest.mark.parametrize(
    ("name", "crd"),
    [
        ("servingruntime.yaml", "serving.kserve.io_servingruntimes.yaml"),
        ("inferenceservice.yaml", "serving.kserve.io_inferenceservices.yaml"),
    ],
)
def test_valid_against_kserves_crds(name: str, crd: str) -> None:
    folder = os.environ.get("KSERVE_CRDS")
    if not folder or not (Path(folder) / crd).is_file():
        pytest.skip("set KSERVE_CRDS to KServe's charts/kserve-crd/templates to check against its CRDs")
    import jsonschema  # comes with schemathesis (the dev extra)

    document = load(name)
    definition = yaml.safe_load((Path(folder) / crd).read_text(encoding="utf-8"))
    (version,) = [
        v for v in definition["spec"]["versions"] if document["apiVersion"].endswith("/" + v["name"])
    ]
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.validate(document, schema)
    assert _unknown_fields(document, schema) == []
