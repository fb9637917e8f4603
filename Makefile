# ovnmeta: `make demo` and `make test` work on a fresh Debian 12 machine, as root.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test unit lint demo bench bench-upstream bench-deps container-check clean

setup:
	@scripts/setup

# `test` and `bench` end with the leak check: anything a lab or agent of this run left behind
# (processes, namespaces, mounts, lab directories, lock files) is listed and fails the target.
LEAKS_BEFORE = $(VENV)/leaks-before.json

# The agent's single-node tests isolate their pytest process in private mount and network
# namespaces, so they run in a pytest of their own.
test: setup
	$(BIN)/ovnmeta lab leaks --save $(LEAKS_BEFORE)
	$(BIN)/ruff check src tests
	$(BIN)/pytest --ignore=tests/integration/agent
	$(BIN)/pytest tests/integration/agent
	$(BIN)/ovnmeta lab leaks --since $(LEAKS_BEFORE)

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

demo: setup
	$(BIN)/ovnmeta demo

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache

# Numbers, not tests: each figure next to its goal and a baseline measured in the same run.
bench: setup bench-deps
	$(BIN)/ovnmeta lab leaks --save $(LEAKS_BEFORE)
	$(BIN)/python bench/lab_bench.py
	$(BIN)/python bench/edge_bench.py
	$(BIN)/python bench/agent_bench.py
	$(BIN)/python bench/metadata_api_bench.py
	$(BIN)/python bench/hostile_bench.py
	$(BIN)/python bench/synthetic_cloud_bench.py
	$(BIN)/python bench/sb_condition_bench.py
	$(BIN)/python bench/scaleout_bench.py
	$(BIN)/python bench/upstream_bench.py
	$(BIN)/ovnmeta lab leaks --since $(LEAKS_BEFORE)

# ovnmeta side by side with upstream's agent (pinned neutron in its own cached venv), one run:
# table on stdout, docs/bench/latest.md and PNG plots. QUICK=1: 1 network, 1 round, a storm of
# 20 (under 5 minutes); without it 1/50/200 networks, 2 rounds each, a storm of 100.
bench-upstream: setup bench-deps
	$(BIN)/ovnmeta lab leaks --save $(LEAKS_BEFORE)
	$(BIN)/python bench/upstream_bench.py $(if $(QUICK),--quick) $(if $(PREFIX),--prefix $(PREFIX))
	$(BIN)/ovnmeta lab leaks --since $(LEAKS_BEFORE)

# The `bench` extra (matplotlib, for the plots): only the bench targets install it.
bench-deps: setup
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || \
		$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'

# The agent from the container image on a real lab, restart included (deploy/README.md): root,
# podman and runc, and the image built first (deploy/container/build.sh; IMAGE=... picks
# another one). `make test` runs tests/integration/test_container_lab.py, which builds the
# image itself (cached); this is the by-hand version.
container-check: setup
	$(BIN)/python deploy/container/lab-run.py
