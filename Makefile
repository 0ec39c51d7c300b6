# Two commands for a newcomer: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# adapters/: the built-in adapters; examples/: example adapters (docs/vendors.md), tested too
ADAPTERS := $(wildcard adapters/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)
LINTED   := prostop_plugin tests bench $(wildcard adapters/*/) $(wildcard examples/*/)
TYPED    := prostop_plugin $(wildcard adapters/*/prostop_*) $(wildcard examples/*/prostop_*)
STAMP  := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(ADAPTERS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' \
		$(foreach a,$(ADAPTERS),-e '$(patsubst %/pyproject.toml,%,$(a))[test]')
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy $(TYPED)

pytest: setup
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: setup
	$(BIN)/prostop demo

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
