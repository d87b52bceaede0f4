# From Demo to Durable — the commands a reader and a developer need.
# `make run` is the only one a reader needs on a fresh machine.

SHELL := /bin/bash
.DEFAULT_GOAL := help
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
PYTHON ?= python3
# uv from PATH, else the copy `make uv` installs with pip.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen --no-sync
STATIC_MANIFEST := staticfiles/staticfiles.json

.PHONY: help uv install static run dev test test-fast browser-deps ops-deps lint format bench golden contract vendor check-deploy loadtest export

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv:  ## install uv if it is missing (from PyPI, with pip)
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
	  { echo "installing uv with pip…"; $(PYTHON) -m pip install --quiet --disable-pip-version-check uv; }

# --compile-bytecode: the packages' .pyc written once at install (as the Dockerfile does).
# Where PYTHONDONTWRITEBYTECODE is set (this machine, many CI images) Python otherwise
# compiles Django and NumPy again in every process: ~0.9 s of each manage.py, gunicorn
# worker and test worker start (measured: `manage.py simulate` 2.5 s → 1.6 s).
install: uv  ## install the locked environment (.venv) from uv.lock
	$(UV) sync --frozen --compile-bytecode

static: install $(STATIC_MANIFEST)  ## collect and compress static files for WhiteNoise

# Collected (hashed, brotli and gzip copies) again only when a source could have changed:
# our static/ files, or the lock file (packages ship static files too). Compressing takes
# ~10 s of CPU; a warm `make run` skips it.
$(STATIC_MANIFEST): $(shell find static -type f 2>/dev/null) uv.lock
	$(RUN) python -m devtools.vendor
	$(RUN) python manage.py collectstatic --noinput --verbosity 0
	@touch $@

run: static  ## serve the book with gunicorn at http://$(HOST):$(PORT)
	@export PROMETHEUS_MULTIPROC_DIR=$$(mktemp -d); \
	echo "Serving the book at http://$(HOST):$(PORT)/ (Ctrl-C stops)"; \
	exec $(RUN) gunicorn monograph.wsgi:application --config gunicorn.conf.py \
	  --bind $(HOST):$(PORT) --workers $(WORKERS)

dev: install  ## runserver with autoreload and DEBUG on
	MONOGRAPH_DEBUG=1 $(RUN) python manage.py runserver $(HOST):$(PORT)

browser-deps:  ## make sure Debian's chromium is installed (browser tests, static images)
	@bash scripts/ensure-chromium.sh

ops-deps:  ## make sure Debian's redis-server and promtool are installed (operations tests)
	@bash scripts/ensure-ops-tools.sh

# The suite in one pass on both cores (pytest-xdist; the tests share nothing a second worker
# could disturb: free ports, a cache directory per worker), real-browser tests included: each
# worker starts its own gunicorn, image renderer and Chromium when its first browser test runs
# (one pass, so neither core idles while the other finishes a pass's last tests). Their waits are on events, bounded at 30 s, and their server's admission limits
# are sized for a test run (tests/browser/conftest.py), so a busy second worker slows them
# without failing them. The static export is built once per run, by whichever worker asks first.
test: install browser-deps ops-deps  ## the whole suite, real-browser tests included
	$(RUN) python -m devtools.vendor
	$(RUN) python manage.py collectstatic --noinput --verbosity 0
	$(RUN) pytest -n 2

test-fast: install  ## everything except the browser tests
	$(RUN) pytest -m "not browser"

lint: install  ## ruff
	$(RUN) ruff check .

format: install  ## sort imports (ruff --select I --fix); the code is not run through ruff format
	$(RUN) ruff check --fix --select I .

bench: install browser-deps  ## measure server time and browser timings; writes docs/performance.md
	$(RUN) python manage.py collectstatic --noinput --verbosity 0
	$(RUN) python -m devtools.bench $(ARGS)

golden: install  ## rewrite tests/simulations/golden/ (after bumping a model_version; ARGS=--force)
	$(RUN) python -m devtools.golden $(ARGS)

export: static  ## the book as a static site in DIR (make export DIR=site LIVE_URL=https://…)
	@test -n "$(DIR)" || { echo "usage: make export DIR=path [LIVE_URL=https://…]"; exit 2; }
	$(RUN) python manage.py export "$(DIR)" $(if $(LIVE_URL),--live-url "$(LIVE_URL)")

contract: install  ## regenerate the per-simulation reference in docs/contract.md
	$(RUN) python -m devtools.contract

loadtest: static  ## Locust: a class of 25 and a 50 req/s overload (BASELINE=1: before); writes docs/loadtest.md, docs/capacity.md
	$(UV) sync --frozen --group load
	$(RUN) python -m devtools.loadtest $(if $(BASELINE),--baseline)

vendor: install  ## re-download htmx and plotly.js from npm and verify their hashes
	$(RUN) python -m devtools.vendor --fetch

check-deploy: install  ## Django's deployment checks in production mode
	MONOGRAPH_ENV=production SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(64))') \
	  ALLOWED_HOSTS=book.example.org $(RUN) python manage.py check --deploy --fail-level WARNING
