# Quickstart targets. Each creates .venv and installs jaxrep into it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.jaxrep-installed
DEMO_CONFIG ?= configs/burgers.yaml
# A new directory per run: an earlier run is never deleted or overwritten.
DEMO_OUT    ?= runs/burgers_spike-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test test-all install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The main job: solve viscous Burgers with SPIKE (the config's method) into runs/burgers_spike-<time>/.
demo: $(STAMP)
	$(BIN)/jaxrep solve $(DEMO_CONFIG) --out $(DEMO_OUT)

# The whole default test suite (slow tests excluded; see `make test-all`).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --durations=15

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider -m "slow or not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
