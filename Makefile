# LeadHub: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install when pyproject.toml changes (the stamp's name carries its hash).
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.run-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)

.PHONY: run test bench lint format check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(RUN_STAMP)

## run: start LeadHub (web + Celery worker + beat) on the embedded default; Ctrl-C stops it
run: $(RUN_STAMP)
	$(BIN)/python manage.py quickstart

## test: the test suite (SQLite by default; Postgres when DATABASE_URL says so)
test: $(DEV_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: throughput and latency figures on gunicorn + Postgres (see bench/README.md)
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## lint: ruff, and migrations that match the models
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
