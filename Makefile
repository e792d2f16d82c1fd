# fitsflow developer entry points. `make demo` and `make test` are the README's
# quick start; both create the virtual environment they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fitsflow samples sample-data --count 200
	$(BIN)/fitsflow ingest sample-data

lint: $(STAMP)
	$(BIN)/ruff check pipeline workers tests bench migrations
	$(BIN)/ruff format --check pipeline workers tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider --cov --cov-report=term

clean:
	rm -rf $(VENV) sample-data fitsflow.db fitsflow.db-wal fitsflow.db-shm .coverage .coverage.*
