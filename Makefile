# Two commands do all set-up on a fresh machine: `make test` and `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit bench bench-quick microbench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## make test: create .venv, install the project with its test extras, lint, type-check, run every test.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check contexts bench scenarios tests
	$(BIN)/ruff format --check contexts bench scenarios tests

typecheck: $(STAMP)
	$(BIN)/mypy

# One pass on PYTEST_WORKERS processes (one per core by default). No test asserts wall-clock
# speed (a busy machine would fail it): tests count requests, bytes and waits; the bench times.
PYTEST_WORKERS ?= auto
unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --durations=15 $(PYTEST_ARGS)

## make bench: the default matrix against the embedded moto server (no AWS account needed);
## ends with the report (reports/<timestamp>/report.md and index.html).
## make bench SERVER=seaweedfs: the same matrix on a real S3 server (SeaweedFS, started for the
## run on 127.0.0.1 and stopped after it), behind the same simulated network.
SERVER ?= moto
bench: $(STAMP)
	$(BIN)/ctxlab bench --server $(SERVER) $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/ctxlab bench --quick --server $(SERVER) $(BENCH_ARGS)

## make microbench RUN=reports/<run>: CPU micro-benchmarks measured for real, JSON into the run.
microbench: $(STAMP)
	$(BIN)/pytest bench/microbench --benchmark-enable --benchmark-json=$(or $(RUN),reports)/microbench.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
