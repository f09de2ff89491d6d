"""docker-compose.yml, the Prometheus scrape config and Grafana's provisioning agree with one another and
with the Dockerfile: services, targets, ports, volumes, mounts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import (
    COMPOSE_FILE,
    DASHBOARD,
    GRAFANA_PROVISIONING,
    PROMETHEUS_CONFIG,
    REPO_ROOT,
    load_yaml,
    parse_dockerfile,
    stage,
)

API_PORT = 8000
EXPECTED_SERVICES = {"vtserve", "vtserve-cpu", "prometheus", "grafana"}
# The GPU and CPU services are alternatives (a host runs one), so they may publish the same host port.
ALTERNATIVES = {"vtserve", "vtserve-cpu"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return data


def published(port: Any) -> tuple[str, int, int]:
    """(host ip, host port, container port) from a short-syntax port string."""
    parts = str(port).split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], int(parts[1]), int(parts[2])
    if len(parts) == 2:
        return "0.0.0.0", int(parts[0]), int(parts[1])
    raise AssertionError(f"publish the port explicitly (host:container): {port!r}")


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume entry."""
    out = []
    for entry in service.get("volumes", []):
        parts = str(entry).split(":")
        assert len(parts) in (2, 3), f"unexpected volume entry {entry!r}"
        out.append((parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"))
    return out


def test_services_and_targets(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == EXPECTED_SERVICES
    _, stages = parse_dockerfile()
    gpu, cpu = services["vtserve"], services["vtserve-cpu"]
    assert gpu["build"]["target"] == "gpu" and "profiles" not in gpu, "`docker compose up` runs the GPU image"
    assert cpu["build"]["target"] == "cpu" and cpu["profiles"] == ["cpu"]
    for name in ("vtserve", "vtserve-cpu"):
        build = services[name]["build"]
        assert (REPO_ROOT / build.get("context", ".")).resolve() == REPO_ROOT
        stage(stages, build["target"])  # the target exists


def test_gpu_reservation(compose: dict[str, Any]) -> None:
    devices = compose["services"]["vtserve"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert "deploy" not in compose["services"]["vtserve-cpu"]


def test_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    _, stages = parse_dockerfile()
    for name in ("vtserve", "vtserve-cpu"):
        target = "gpu" if name == "vtserve" else "cpu"
        env = stage(stages, target).env()
        svc_env = services[name].get("environment", {})
        port = int(svc_env.get("VTSERVE_PORT", env["VTSERVE_PORT"]))
        assert port == API_PORT
        assert svc_env.get("VTSERVE_HOST", env.get("VTSERVE_HOST")) == "0.0.0.0", "listen beyond loopback"
        assert [published(p)[1:] for p in services[name]["ports"]] == [(API_PORT, port)]
        assert {i.args for i in stage(stages, target).all("EXPOSE")} == {str(port)}
    assert [published(p) for p in services["prometheus"]["ports"]] == [("127.0.0.1", 9090, 9090)]
    assert [published(p) for p in services["grafana"]["ports"]] == [("127.0.0.1", 3000, 3000)]
    # No two services that can run together claim the same host port.
    claimed: dict[int, str] = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_port = published(port)[1]
            other = claimed.get(host_port)
            assert other is None or {name, other} <= ALTERNATIVES, (
                f"{name} and {other} both publish {host_port}"
            )
            claimed[host_port] = name


def test_volumes_are_declared_used_and_bind_sources_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    used: set[str] = set()
    for name, svc in compose["services"].items():
        for source, target, mode in mounts(svc):
            assert target.startswith("/"), (name, target)
            if source.startswith((".", "/")):
                path = (REPO_ROOT / source).resolve()
                assert path.exists(), f"{name}: bind mount source {source} does not exist"
                assert mode == "ro", f"{name}: mount repository files read-only ({source})"
            else:
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}; used but undeclared: {used - declared}"


def test_vtserve_cache_volume_holds_the_caches_the_images_use(compose: dict[str, Any]) -> None:
    _, stages = parse_dockerfile()
    for name, target in (("vtserve", "gpu"), ("vtserve-cpu", "cpu")):
        env = stage(stages, target).env()
        (cache_mount,) = [t for s, t, _ in mounts(compose["services"][name]) if not s.startswith((".", "/"))]
        volume_decl = {i.args.strip('[]" ') for i in stage(stages, target).all("VOLUME")}
        assert volume_decl == {cache_mount}
        for key in ("VTSERVE_CACHE_DIR", "ORT_TENSORRT_CACHE_PATH"):
            if key in env:
                assert Path(env[key]).is_relative_to(cache_mount), f"{target}: {key} is outside the volume"
    assert "ORT_TENSORRT_CACHE_PATH" in stage(stages, "gpu").env(), "TensorRT engines must land in the volume"


def test_prometheus_scrapes_the_service_by_its_compose_name(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "vtserve"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["vtserve"] and sd["type"] == "A" and sd["port"] == API_PORT
    services = compose["services"]
    # Both API services answer to the name `vtserve` on the compose network.
    assert "vtserve" in services
    assert "vtserve" in services["vtserve-cpu"]["networks"]["default"]["aliases"]
    prometheus = services["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_target = config_flag.split("=", 1)[1]
    assert (f"./{PROMETHEUS_CONFIG.relative_to(REPO_ROOT)}", config_target, "ro") in mounts(prometheus)


def test_grafana_provisioning_matches_the_mounts(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    grafana_mounts = {source: target for source, target, _ in mounts(grafana)}
    assert grafana_mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_target = grafana_mounts["./deploy/grafana/dashboards"]

    datasources = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"] == "http://prometheus:9090"  # the compose service and its container port
    assert "prometheus" in compose["services"]

    providers = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "vtserve.yml")
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == dashboards_target
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_target}/{DASHBOARD.name}"


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(value) * units[unit]
    return total


def test_containers_get_time_to_drain(compose: dict[str, Any]) -> None:
    """Docker sends SIGKILL after stop_grace_period (default 10 s); the service drains for up to
    graceful_timeout_s after SIGTERM, so the grace period must outlast it."""
    from service.settings import Settings

    drain = Settings.model_fields["graceful_timeout_s"].default
    for name in ("vtserve", "vtserve-cpu"):
        grace = seconds(compose["services"][name]["stop_grace_period"])
        assert grace > drain, f"{name}: stop_grace_period {grace}s <= graceful_timeout_s {drain}s"
