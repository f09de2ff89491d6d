"""Paths and parsers shared by the deployment tests (Dockerfile, compose stack, dashboard, requirements).

Docker cannot run here, so these tests prove what can be proven without an engine: the files parse, agree
with one another and with the service's real metrics and settings, and pass the real validators
(`docker-compose config`, `promtool`, `hadolint`) when those are installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The service tests' fixture for a real bundle exported from a tiny model (session-scoped), reused here
# rather than building bundles a second way.
from tests.service.conftest import tiny_bundle  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = DEPLOY / "grafana" / "provisioning"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vtserve.json"


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, ENV, ...
    args: str  # the rest of the logical line, continuation lines joined
    line: int


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs set in this stage (later ones win)."""
        out: dict[str, str] = {}
        for inst in self.all("ENV"):
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', inst.args):
                out[key] = value.strip('"')
        return out


def parse_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages in order). Comments dropped, `\\` continuations joined."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical = ""
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, rest = logical.partition(" ")
        inst = Instruction(keyword.upper(), rest.strip(), start)
        logical = ""
        if inst.keyword == "FROM":
            parts = inst.args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=parts[0]))
        elif not stages and inst.keyword == "ARG":
            key, _, default = inst.args.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append(inst)
    assert not logical, "the Dockerfile ends inside a continued line"
    return args, stages


def stage(stages: list[Stage], name: str) -> Stage:
    for s in stages:
        if s.name == name:
            return s
    raise AssertionError(f"no stage named {name!r} in the Dockerfile")


def load_yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml", reason="PyYAML (the dev extra) is needed to read YAML")
    return yaml.safe_load(path.read_text())


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows are containers, not panels), including panels inside rows."""
    out: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and templating queries."""
    exprs = [t["expr"] for p in dashboard_panels(dashboard) for t in p.get("targets", []) if t.get("expr")]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and query:
            exprs.append(str(query))
    return exprs
