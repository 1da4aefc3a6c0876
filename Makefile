# Two entry points for a fresh machine: `make serve` and `make test`.
# Both create or refresh the local virtualenv in .venv first.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: serve test lint bench install test-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/cds serve

# Everything the integration tests meet for real: a FHIR server (Node) and a browser.
test-deps:
	bash scripts/install-test-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

test: $(STAMP) test-deps lint
	$(BIN)/python -m pytest

# The load generator is Debian's wrk; the bench extra holds the profiler.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || true
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py --profile

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
