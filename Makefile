# Quickstart targets. Each creates .venv and installs jaxrep into it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.jaxrep-installed
DEMO_CONFIG ?= configs/burgers_spike.yaml
DEMO_OUT    ?= runs/burgers_spike

.PHONY: demo test test-all install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The main job: solve viscous Burgers with SPIKE and write runs/burgers_spike/ (< 5 min on 2 CPU cores).
demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/jaxrep solve $(DEMO_CONFIG) --out $(DEMO_OUT)

# The whole default test suite (slow tests excluded; see `make test-all`).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --durations=15

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider -m "slow or not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
