# fitsflow developer entry points. `make run` and `make test` are the README's
# quick start; both create the virtual environment they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test coverage lint typecheck venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# The pipeline on embedded defaults: SQLite in ./fitsflow.db, in-process queue,
# status endpoint on http://127.0.0.1:8000. Ctrl-C stops it.
run: $(STAMP)
	@test -d inbox || $(BIN)/fitsflow samples inbox --count 200
	$(BIN)/fitsflow run --watch inbox

# One-shot, no queue: ingest the samples once and print the summary.
demo: $(STAMP)
	@test -d sample-data || $(BIN)/fitsflow samples sample-data --count 200
	$(BIN)/fitsflow ingest sample-data

lint: $(STAMP)
	$(BIN)/ruff check pipeline workers tests bench migrations
	$(BIN)/ruff format --check pipeline workers tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

# Without coverage: its tracing more than doubles the in-process tests' time
# (the C/Python footprint property test: 34 s -> 79 s), which CI cannot spare.
test: lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider --durations=15

# The whole suite with line coverage of pipeline/ and workers/ (much slower).
coverage: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider --cov --cov-report=term

clean:
	rm -rf $(VENV) inbox sample-data fitsflow.db fitsflow.db-wal fitsflow.db-shm .coverage .coverage.*
