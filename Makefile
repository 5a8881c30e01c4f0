# Quick start: `make run` (platform + demo workspace) and `make test` (whole suite).
# Everything is installed by these targets; nothing needs to be set up by hand.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: install run test lint format bench services-start services-stop services-status browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	touch $@

static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor/htmx static/vendor/pico static/vendor/chartjs
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico/
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chartjs/
	touch $@

install: $(VENV)/.installed static/vendor/.installed

# Browser tests drive the system Chromium (Playwright's own browser download is not used).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is needed for browser tests: install the 'chromium' package." >&2; exit 1; fi; \
	fi

# The storefront simulator drives the demo workspace by default: `SIMULATE=0 make run` turns it off,
# SIMULATE_RATE sets its visits per second (docs/simulator.md).
SIMULATE ?= 1
SIMULATE_RATE ?= 2
# The demo's email goes to a file outbox (var/mail) unless EMAIL_HOST names a real SMTP server.
run: install
	DEBUG=$${DEBUG:-1} \
	DELIVERY_EMAIL_BACKEND=$${DELIVERY_EMAIL_BACKEND:-$$([ -n "$$EMAIL_HOST" ] && echo django.core.mail.backends.smtp.EmailBackend || echo django.core.mail.backends.filebased.EmailBackend)} \
	$(BIN)/python -m cep.embedded run -- $(BIN)/python manage.py run_platform --host $(HOST) --port $(PORT) \
	  $(if $(filter 0 no false,$(SIMULATE)),--no-simulator,--simulator-rate $(SIMULATE_RATE))

test: install browser
	# Tests run without the connection pool: they start Celery workers and live servers in threads
	# of their own, and the pool does not survive the test harness's database resets. The web
	# processes of `make run` and `make bench` use the pool.
	DEBUG=1 CEP_REDIS_DB=1 DB_POOL_MAX_SIZE=0 $(BIN)/python -m cep.embedded run -- $(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks: a scratch database (cep_bench) and Redis database 4; reports in docs/benchmarks.md.
bench: install
	$(BIN)/python -m cep.embedded run -- $(BIN)/python -m bench $(BENCH)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

services-start: install
	$(BIN)/python -m cep.embedded start

services-stop: install
	$(BIN)/python -m cep.embedded stop

services-status: install
	$(BIN)/python -m cep.embedded status

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache .mypy_cache .ruff_cache
