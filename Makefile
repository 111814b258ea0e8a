# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test,examples]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	./scripts/install-system-deps bubblewrap slirp4netns nftables mmdebstrap
	GW_HOME=$${GW_HOME:-$(CURDIR)/.gworker-demo} $(BIN)/gw run examples/hello.py --name Ada --times 3
	GW_HOME=$${GW_HOME:-$(CURDIR)/.gworker-demo} $(BIN)/gw run examples/parallel_primes.py

test: $(STAMP)
	./scripts/install-system-deps
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .gworker-demo .pytest_cache
