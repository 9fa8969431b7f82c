# Quickstart targets. Each creates .venv and installs jaxrep into it when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.jaxrep-installed
DOCS_STAMP := $(VENV)/.jaxrep-docs-installed
TEST_STAMP := $(VENV)/.jaxrep-test-installed
# mkdocs build --strict: a warning (e.g. a broken cross-reference in a docstring) fails the build.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
DEMO_CONFIG ?= burgers
# A new directory per run: an earlier run is never deleted or overwritten.
DEMO_OUT    ?= runs/burgers_spike-$(shell date +%Y%m%d-%H%M%S)

.PHONY: demo test test-all install docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DOCS_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# `make test` needs both extras: one pip run installs them together (two runs cost ~15 s more in CI,
# each resolving and building the editable package again). --no-compile: pip byte-compiles every module
# of every dependency (sympy, scipy, matplotlib, mkdocs, ...) at install; the test run compiles only
# those it imports (install 121 s -> 71 s on one core, the first import then ~18 s instead of ~3 s).
$(TEST_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,docs]"
	touch $(STAMP) $(DOCS_STAMP) $(TEST_STAMP)

install: $(STAMP)

# The API reference site (guide + API per family, the notebooks as committed) into site/.
docs: $(DOCS_STAMP)
	$(MKDOCS)

# The main job: solve viscous Burgers with SPIKE (the config's method) into runs/burgers_spike-<time>/.
demo: $(STAMP)
	$(BIN)/jaxrep solve $(DEMO_CONFIG) --out $(DEMO_OUT)

# The whole default test suite (slow tests excluded; see `make test-all`), then the strict docs build.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -p no:cacheprovider --durations=40
	$(MKDOCS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -p no:cacheprovider -m "slow or not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache site .cache/mkdocs-jupyter
