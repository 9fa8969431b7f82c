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
# each resolving and building the editable package again). pip byte-compiles the dependencies one file
# after another (~50 s of the 121 s install on one core); compileall does it on every core. The .pyc
# files matter: where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) nothing else writes them,
# and a fresh interpreter without them (every notebook kernel and subprocess of the suite) spends
# ~18 s instead of ~8 s importing jax and jaxrep. jaxrep itself is compiled before every test run.
# (compileall's exit status also counts dependency files that do not compile for this Python, which
# pip skips too, so it is not checked.)
$(TEST_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,docs]"
	-$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
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
	$(BIN)/python -m compileall -q -j 0 jaxrep > /dev/null
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -p no:cacheprovider --durations=40
	$(MKDOCS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -p no:cacheprovider -m "slow or not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache site .cache/mkdocs-jupyter
