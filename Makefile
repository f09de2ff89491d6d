# vtserve — one command each. Every target bootstraps what it needs on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
# Debian programs the tests run as real local servers, by the file each package installs (same order).
SYSTEM_TOOLS := $(CHROMIUM) /usr/bin/redis-server /usr/sbin/nginx /usr/bin/prometheus
APT_PACKAGES := chromium redis-server nginx prometheus

.PHONY: install serve test test-cluster test-all lint bench check-deploy clean

install: $(STAMP)

# torch first (the pinned build; on CPU machines a local CPU wheel), then the project with a range it satisfies.
$(STAMP): pyproject.toml | $(SYSTEM_TOOLS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Debian's chromium for the web page's browser tests (tests/web), redis-server and nginx for the scale-out
# tests (tests/deploy/test_scale_out.py), prometheus for the autoscaling query (tests skip without them):
# apt-get, as root or with sudo, once, when any is missing. Where there is no apt-get, install them yourself.
$(SYSTEM_TOOLS) &:
	@if ! command -v apt-get >/dev/null; then echo "no apt-get: tests needing $(APT_PACKAGES) will skip"; exit 0; fi; \
	sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(APT_PACKAGES) >/dev/null

serve: $(STAMP)
	$(BIN)/vtserve serve

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not integration"

# The Ray engine on a real two-node Ray cluster on this machine (two `ray start` processes; ~150 s, ~2.6 GB).
test-cluster: $(STAMP)
	$(BIN)/python -m pytest -q -m integration tests/service/engines/test_ray_cluster.py

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check models export service bench tests
	$(BIN)/ruff format --check models export service bench tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/vtserve bench

# Validate Dockerfile, compose file and Prometheus/Grafana config without a Docker engine
# (installs Debian's docker-compose and prometheus, and hadolint, when missing; needs root for apt).
check-deploy: $(STAMP)
	bash deploy/check.sh --install

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
