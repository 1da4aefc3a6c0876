# Two entry points for a fresh machine: `make serve` and `make test`.
# Both create or refresh the local virtualenv in .venv first: `make serve` with the runtime
# dependencies only (exactly the versions in requirements.lock, as the Docker image),
# `make test` adds the test extras.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
RUNTIME_STAMP = $(VENV)/.runtime-stamp
TEST_STAMP    = $(VENV)/.test-stamp

.PHONY: serve test check lint bench install test-deps lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(TEST_STAMP)

serve: $(RUNTIME_STAMP)
	$(BIN)/cds serve

# Everything the integration tests meet for real: a FHIR server (Node) and a browser.
test-deps:
	bash scripts/install-test-deps.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench scripts

test: $(TEST_STAMP) test-deps lint
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest

# The quick inner loop: lint and the tests that need no browser, database server, FHIR server
# or nginx, with few property-test examples (the `dev` hypothesis profile, tests/conftest.py).
check: $(TEST_STAMP) lint
	$(BIN)/python -m pytest -m "not integration"

# The load generator is Debian's wrk; the bench extra holds the profiler. BASELINE=<git ref>
# adds the service at that commit to the CPU-per-call table (before and after in one run).
bench: $(TEST_STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || true
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py --profile $(if $(BASELINE),--baseline $(BASELINE))

# Regenerate the lock files from pyproject.toml (after changing a dependency), resolved
# against the default package index alone whatever the local pip configuration says.
LOCK_FLAGS = --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links
PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND="make lock" \
	$(BIN)/pip-compile $(LOCK_FLAGS)
lock: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --only-build-deps --all-build-deps --output-file requirements-build.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
