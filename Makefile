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

clean:
	rm -rf $(VENV)
