# The two commands: `make run` (the whole system, embedded) and `make test` (every test).
# Needs only python3 (3.11): uv is installed into .tools/ when it is not on PATH.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(CURDIR)/.tools/bin/uv
endif
RUN := $(UV) run --no-sync
ARGS ?=

.PHONY: help tools browser run test lint bench

help: ## show the targets
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

tools: $(UV) ## install uv if missing, then the workspace from uv.lock
	@if [ -n "$${CI:-}" ]; then \
	  $(UV) sync --frozen --all-packages; \
	else \
	  $(UV) sync --frozen --all-packages || { echo "uv.lock missing or outdated: syncing without --frozen"; $(UV) sync --all-packages; }; \
	fi

run: tools ## start the whole system on the embedded stack (state in ./var, Ctrl-C stops)
	$(RUN) python -m portal_dev run

browser: ## Debian's Chromium for the dashboard's browser test (never a downloaded browser)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the dashboard test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium: the dashboard browser test will be skipped"; \
	else echo "chromium not found (install Debian's chromium): the dashboard browser test will be skipped"; fi

test: tools browser ## run the whole test suite on real servers (extra pytest args: ARGS="-k stack")
	$(RUN) pytest $(ARGS)

lint: tools ## ruff check and ruff format --check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

bench: tools ## run the benchmarks (python -m bench) if they exist
	@if $(RUN) python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec(\"bench\") is None)"; then \
	  $(RUN) python -m bench $(ARGS); \
	else echo "no benchmarks yet (python -m bench not found)"; fi
