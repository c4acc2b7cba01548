# LeadHub: the two commands are `make run` and `make test` (see README.md).
# Any Python 3.11 or 3.12 will do; `make run PYTHON=/path/to/python3.11` picks one.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
# CI builds its own: `make test VENV=.ci-venv`.
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install when pyproject.toml changes (the stamp's name carries its hash).
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.run-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)

.PHONY: run test bench lint format check install dev clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] < (3, 13)' 2>/dev/null || \
	  { echo "LeadHub needs Python 3.11 or 3.12; '$(PYTHON)' is not. Try: make $(MAKECMDGOALS) PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
	  { echo "$(PYTHON) cannot create virtualenvs. On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing LeadHub and its dependencies into $(VENV)…"
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing LeadHub with its test and lint tools into $(VENV)…"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(RUN_STAMP)

## install: the virtualenv with LeadHub in it (what `make run` needs)
install: $(RUN_STAMP)

## dev: the virtualenv with LeadHub and the test and lint tools
dev: $(DEV_STAMP)

## run: start LeadHub (web + Celery worker + beat) on the embedded default; Ctrl-C stops it.
## HOST and PORT (default 127.0.0.1:8000), DATABASE_URL and CELERY_BROKER_URL are honoured.
run: $(RUN_STAMP)
	$(BIN)/python manage.py quickstart

## test: the test suite (SQLite by default; Postgres when DATABASE_URL says so)
test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: throughput and latency figures on gunicorn + Postgres (see bench/README.md)
bench: $(DEV_STAMP)
	@command -v wrk >/dev/null || { echo "Installing wrk (the load generator) from Debian's packages…"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq wrk; else sudo -n apt-get install -y -qq wrk; fi; } || \
	  { echo "make bench needs wrk: sudo apt-get install -y wrk"; exit 1; }
	$(BIN)/python -m bench $(BENCH_ARGS)

## lint: ruff, and migrations that match the models
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

## check: lint, then test
check: lint test

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
