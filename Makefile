# Two commands for a newcomer: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# adapters/: the built-in adapters; examples/: example adapters (docs/vendors.md), tested too
ADAPTERS := $(wildcard adapters/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)
LINTED   := prostop_plugin tests bench $(wildcard adapters/*/) $(wildcard examples/*/)
TYPED    := prostop_plugin $(wildcard adapters/*/prostop_*) $(wildcard examples/*/prostop_*)
STAMP  := $(VENV)/.installed
# the browser tests' accessibility check loads axe-core from disk (never downloaded at test time)
AXE_CORE := axe-core@4.14.1
AXE      := $(VENV)/node/.$(AXE_CORE)

.PHONY: setup test lint typecheck pytest demo bench fuzz clean

setup: $(STAMP) $(AXE)

$(STAMP): pyproject.toml $(ADAPTERS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' \
		$(foreach a,$(ADAPTERS),-e '$(patsubst %/pyproject.toml,%,$(a))[test]')
	touch $(STAMP)

$(AXE):
	@command -v npm >/dev/null || { echo "npm is needed to install $(AXE_CORE) for the" \
		"accessibility tests: apt-get install npm (.ci/run does)" >&2; exit 1; }
	npm install --prefix $(VENV)/node --no-audit --no-fund --no-save --loglevel=error $(AXE_CORE)
	touch $(AXE)

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy $(TYPED)

pytest: setup
	$(BIN)/pytest -q

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/prostop demo

bench: setup
	$(BIN)/python -m bench

# the fuzz tests alone, with a larger budget (same fixed seed; PROSTOP_FUZZ_RANDOM=1: a new one)
FUZZ_EXAMPLES ?= 2000
fuzz: setup
	PROSTOP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -m fuzz -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
