# ai-strata: the Makefile is the pipeline's entry point. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= data/strata.duckdb
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help reproduce test test-all lint fuzz bench dataset figures report clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/pip install -q -e . 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' ; test $${PIPESTATUS[0]} -eq 0
	touch $@

reproduce: $(BIN)/.installed ## Set up and run the main job (offline)
	$(BIN)/strata reproduce --db $(DB)

test: $(BIN)/.installed-dev lint ## Set up, lint, and run the test suite
	$(BIN)/pytest

test-all: $(BIN)/.installed-dev ## Tests including slow ones
	$(BIN)/pytest -m 'not mirror'

lint: $(BIN)/.installed-dev ## ruff check + format check, import-layering contracts, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

MIRRORS ?=
dataset: $(BIN)/.installed ## Rebuild the release from the sources (MIRRORS=file.tsv to read local mirrors)
	$(BIN)/strata build --corpus data/corpus.toml $(if $(MIRRORS),--mirrors $(MIRRORS)) --db $(DB) --jobs 2
	$(BIN)/strata release --db $(DB) --out data/release

fuzz: $(BIN)/.installed-dev ## Property-based fuzzing: >= 10k examples per target (minutes)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/test_fuzz.py -m fuzz -p no:cacheprovider

bench: $(BIN)/.installed-dev ## Benchmarks against raw git (needs REPO=path to a history)
	$(BIN)/python benchmarks/crawl.py $(REPO)

figures: $(BIN)/.installed ## Redraw the figures and contact sheet from $(DB) (after `make reproduce`)
	$(BIN)/strata figures --db $(DB) --out reports

report: $(BIN)/.installed ## Rewrite reports/study.md, its figures and notebooks from $(DB)
	$(BIN)/strata report --db $(DB) --out reports

clean: ## Remove the venv and generated data (keeps committed data)
	rm -rf $(VENV) data/strata.duckdb data/.staging data/.build-staging reports/*.html
