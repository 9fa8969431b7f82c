"""Shared fixtures: a seeded `getkey` and the float64 switches (`x64`, `x64_module`, `x64_on`)."""

import contextlib
import os
import random

os.environ.setdefault("MPLBACKEND", "Agg")

# Most of the suite's time is XLA compiling the same small programs again (every `fit` builds a new step
# function; notebooks and hard-kill subprocesses start fresh interpreters). JAX's persistent compilation
# cache, in one directory per session shared by the xdist workers, notebook kernels and subprocesses
# (they inherit the environment), compiles each distinct program once. It changes no result: a cache hit
# is the identical executable. `JAXREP_TEST_JAX_CACHE=0` turns it off.
# The suite runs many small programs a few steps each, so XLA's optimisation passes (LLVM -O2 above all)
# cost far more than they save: compiling with most optimisations off made a compile-bound PINN solve
# ~1.6x faster on the 2-core CPU, with identical metrics. Set through the environment so that notebook
# kernels and subprocesses inherit it; `JAX_DISABLE_MOST_OPTIMIZATIONS=0` restores full optimisation.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# XLA:CPU's newer fusion emitters (MLIR) take most of the remaining compile time of these small programs:
# with `--xla_cpu_use_fusion_emitters=false` (the classic LLVM IR emitters, same operations, same results)
# a small SPIKE solve needed ~40% less CPU time on the 2-core VM (`tests/test_pinn_solve.py`: 84 s -> 52 s
# of CPU). Subprocesses that set their own XLA_FLAGS (virtual devices) start from JAXREP_TEST_XLA_FLAGS.
# XLA:CPU also splits each module's code generation into parallel parts by default; with two test
# workers on two cores that splitting is pure overhead: `--xla_cpu_parallel_codegen_split_count=1` took
# 7-24% off single-core runs of compile-bound test files (test_pinn_solve 57.9 -> 44.2 s, test_pinn_rad
# 31.7 -> 27.8 s, test_kan_mult_prune 38.9 -> 34.2 s; same results).
# `JAXREP_TEST_XLA_FLAGS=` (empty) keeps XLA's defaults.
os.environ.setdefault("JAXREP_TEST_XLA_FLAGS",
                      "--xla_cpu_use_fusion_emitters=false --xla_cpu_parallel_codegen_split_count=1")
if os.environ["JAXREP_TEST_XLA_FLAGS"] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f'{os.environ.get("XLA_FLAGS", "")} {os.environ["JAXREP_TEST_XLA_FLAGS"]}'.strip()

if os.environ.get("JAXREP_TEST_JAX_CACHE", "1") != "0" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxrep-test-xla-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    _OWN_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"]
else:
    _OWN_CACHE = None


def pytest_sessionfinish(session, exitstatus):
    """The process that made the compilation cache (the xdist controller) removes it."""
    if _OWN_CACHE is not None and not hasattr(session.config, "workerinput"):
        import shutil

        shutil.rmtree(_OWN_CACHE, ignore_errors=True)

# Longest first. `make test` runs two xdist workers with --dist worksteal: each starts on one contiguous
# half of the collected tests and the one that finishes first steals from the other's queue. A module of
# minute-long tests near the end of a queue (the notebook smoke runs, the hard-kill subprocess runs)
# leaves one core idle while the other finishes it; collected first, they run while the short tests
# are still there to fill the other core. Whole modules move, so module-scoped fixtures set up once.
_LONG_MODULES = ("test_notebooks.py", "test_train.py", "test_interpolants_image.py", "test_kan_symbolic_task.py",
                 "test_multihost.py", "test_pinn_task.py", "test_interpolants_task.py", "test_kan_tasks.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


import jax
import jax.random as jr
import pytest

# Tests check the mathematics at float32/float64 tolerances. On NVIDIA GPUs JAX's default float32 matmul
# precision is TF32 (~1e-3 relative), which is a hardware choice, not a bug; run the suite at full precision
# so that it means the same on every backend (a no-op on CPU).
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.fixture
def getkey(request):
    """Return a function giving a fresh PRNG key each call; the seed is printed on failure."""
    seed = random.Random(request.node.nodeid).randint(0, 2**31 - 1)
    print(f"getkey seed: {seed}")
    keys = iter(jr.split(jr.PRNGKey(seed), 1000))
    return lambda: next(keys)


@contextlib.contextmanager
def x64_on():
    """`jax_enable_x64` on inside the block, restored afterwards (never set at import: it would leak
    into every other test of the xdist worker)."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


@pytest.fixture
def x64():
    """Run one test with `jax_enable_x64` on (closed-form numerics in float64), restored afterwards."""
    with x64_on():
        yield


@pytest.fixture(scope="module")
def x64_module():
    """A whole module in float64 (use `pytestmark = pytest.mark.usefixtures("x64_module")`): every
    compiled program then has one dtype and is compiled once."""
    with x64_on():
        yield
