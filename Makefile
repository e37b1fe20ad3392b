# make run: a working gateway on the quickstart example.  make test: every check CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit run bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

run: $(STAMP)
	$(BIN)/python tools/quickstart.py $(if $(DATAPLANE),--dataplane $(DATAPLANE))

unit: $(STAMP)
	$(BIN)/pytest tests

# Full-size benchmarks (tens of minutes, best on an idle machine): docs/benchmarks.{md,json,png}.
# BENCH_ARGS=--quick for reduced sizes; BENCH_ARGS=--from-json to re-render saved results.
bench: $(STAMP)
	$(BIN)/python -m tools.bench.report $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
