# Two commands for a newcomer: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ADAPTERS := $(wildcard adapters/*/pyproject.toml)
LINTED   := prostop_plugin tests bench $(wildcard adapters/*/)
TYPED    := prostop_plugin $(wildcard adapters/*/prostop_*)
STAMP  := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(ADAPTERS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' \
		$(foreach a,$(ADAPTERS),-e '$(patsubst %/pyproject.toml,%,$(a))[test]')
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check $(LINTED)

typecheck: setup
	$(BIN)/mypy $(TYPED)

pytest: setup
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: setup
	$(BIN)/prostop demo

bench: setup
	$(BIN)/python -m bench

# the fuzz tests alone, with a larger budget (same fixed seed; PROSTOP_FUZZ_RANDOM=1: a new one)
FUZZ_EXAMPLES ?= 2000
fuzz: setup
	PROSTOP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -m fuzz -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
