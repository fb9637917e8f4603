# ovnmeta: `make demo` and `make test` work on a fresh Debian 12 machine, as root.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test unit lint demo bench clean

setup:
	@scripts/setup

# The agent's single-node tests isolate their pytest process in private mount and network
# namespaces, so they run in a pytest of their own.
test: setup
	$(BIN)/ruff check src tests
	$(BIN)/pytest --ignore=tests/integration/agent
	$(BIN)/pytest tests/integration/agent

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

demo: setup
	$(BIN)/ovnmeta demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache

# Numbers, not tests: each figure next to its goal and a baseline measured in the same run.
bench: setup
	$(BIN)/python bench/lab_bench.py
	$(BIN)/python bench/agent_bench.py 200
	$(BIN)/python bench/sb_scale_bench.py 2000
