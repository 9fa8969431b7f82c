"""Multi-host data parallelism for real: two processes on localhost joined by `jax.distributed`.

Each process owns one CPU device; `fit(..., mesh=make_mesh())` splits every global batch across the
two processes and all-reduces the gradients over gloo (JAX's CPU collectives). The driver is
`scripts/multihost_worker.py`; the single-process reference runs here, on the same global batches.
"""

import importlib.util
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxrep

WORKER = pathlib.Path(__file__).parent / "scripts" / "multihost_worker.py"
STEPS = 8
MODES = ("sampler", "iterable")


def _worker_module():
    spec = importlib.util.spec_from_file_location("multihost_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(out: pathlib.Path, *args, n: int = 2) -> list[subprocess.Popen]:
    """Start `n` worker processes (one per "host") sharing a coordinator on a free localhost port."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"  # CPU collectives also on a GPU machine
    if os.environ.get("JAXREP_TEST_XLA_FLAGS"):  # the suite's compile-time flags (conftest.py)
        env["XLA_FLAGS"] = os.environ["JAXREP_TEST_XLA_FLAGS"]
    port = _free_port()
    procs = []
    for i in range(n):
        log = open(out / f"log.{i}", "ab")
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(out), str(i), str(n), str(port), str(STEPS), *map(str, args)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        ))
        log.close()
    return procs


def _logs(out: pathlib.Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(out.glob("log.*")))


def _wait(procs, out: pathlib.Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        raise AssertionError(f"workers timed out:\n{_logs(out)}") from None
    codes = [p.returncode for p in procs]
    assert codes == [0] * len(procs), f"worker exit codes {codes}:\n{_logs(out)}"


def _reference() -> dict:
    """The single-process run on one device, same global batches, no mesh: `{mode: flat params}`."""
    worker = _worker_module()
    result = {}
    # On the CPU, like the workers, also on a GPU machine (the same arithmetic, so the bound stays tight).
    with jax.enable_x64(True), jax.default_device(jax.devices("cpu")[0]):
        for mode in MODES:
            model, loss_fn, data, optimizer, key = worker.problem(mode)
            model, _ = jaxrep.train.fit(model, loss_fn, data, optimizer, steps=STEPS, key=key,
                                        steps_per_call=worker.STEPS_PER_CALL, progress=False)
            result[mode] = worker.flat(model)
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[pathlib.Path, dict]:
    """Both data modes trained for STEPS steps by two processes, with checkpoints, and (computed here
    while they run) the single-process reference."""
    out = tmp_path_factory.mktemp("multihost") / "straight"
    procs = _launch(out, "--modes", ",".join(MODES))
    try:
        reference = _reference()
    except BaseException:
        for p in procs:
            p.kill()
        raise
    _wait(procs, out)
    return out, reference


@pytest.fixture(scope="module")
def uninterrupted(runs) -> pathlib.Path:
    return runs[0]


@pytest.mark.parametrize("mode", MODES)
def test_two_processes_match_single_process(runs, mode):
    uninterrupted, reference = runs
    p0 = np.load(uninterrupted / f"final_{mode}.0.npy")
    p1 = np.load(uninterrupted / f"final_{mode}.1.npy")
    assert np.array_equal(p0, p1)  # replicated parameters: every process holds the same values
    # Only the summation order of the gradient differs (two partial sums, then an all-reduce).
    np.testing.assert_allclose(p0, reference[mode], rtol=1e-12, atol=1e-13)
    assert "Rank 0 is connected to 1 peer" in (uninterrupted / "log.0").read_text()  # gloo, really


@pytest.mark.parametrize("mode", MODES)
def test_checkpoints_are_written_once_and_restore(uninterrupted, tmp_path, mode):
    ckpt = uninterrupted / f"ckpt_{mode}"
    steps = sorted(int(p.name) for p in ckpt.iterdir() if p.is_dir())
    assert steps == [4, 8], sorted(p.name for p in ckpt.iterdir())  # one set of step dirs
    assert not [p for p in ckpt.rglob("*") if "tmp" in p.name]  # no half-written leftovers
    for s in steps:
        assert len(list((ckpt / str(s)).rglob("_CHECKPOINT_METADATA"))) == 1
    # Orbax writes every array once in all: the replicated state is split among the processes (each
    # writes a slice), not written by each. Its per-process write log lets us count the elements.
    written = {}
    for meta in (ckpt / "8" / "default" / "array_metadatas").glob("process_*"):
        for entry in json.loads(meta.read_text())["array_metadatas"]:
            m = entry["array_metadata"]
            written[m["param_name"]] = written.get(m["param_name"], 0) + int(np.prod(m["write_shape"]))

    # Restored by a single process (another process count than the writers) through `fit(resume=True)`
    # at the last step: it trains nothing and returns the checkpointed model.
    copy = tmp_path / "ckpt"
    shutil.copytree(ckpt, copy)
    worker = _worker_module()
    with jax.enable_x64(True):
        model, loss_fn, data, optimizer, key = worker.problem(mode)
        restored, _ = jaxrep.train.fit(model, loss_fn, data, optimizer, steps=STEPS, key=key,
                                       checkpoint_dir=copy, resume=True, progress=False)
        sizes = {"model." + jax.tree_util.keystr(p, simple=True, separator="."): x.size
                 for p, x in jax.tree_util.tree_leaves_with_path(restored)}
    np.testing.assert_array_equal(worker.flat(restored), np.load(uninterrupted / f"final_{mode}.0.npy"))
    if written:
        for name, size in sizes.items():
            assert written.get(name) == size, (name, written.get(name), size)


def test_metrics_log_is_written_once(uninterrupted):
    # One writer (process 0): every step once, in order.
    for mode in MODES:
        rows = (uninterrupted / f"ckpt_{mode}" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["step"] for r in rows] == list(range(1, STEPS + 1))


@pytest.mark.slow  # two more two-process launches
def test_kill_9_of_both_processes_then_resume_is_exact(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    procs = _launch(out, "--modes", "sampler", "--stop-at", 4)
    deadline = time.monotonic() + 240
    while not all((out / f"stopped.{i}").exists() for i in range(2)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for p in procs:
                p.kill()
            raise AssertionError(f"workers did not reach step 4:\n{_logs(out)}")
        time.sleep(0.2)
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    assert [p.wait() for p in procs] == [-9, -9]
    assert not list(out.glob("final_*"))
    assert 4 in [int(p.name) for p in (out / "ckpt_sampler").iterdir() if p.name.isdigit()]

    _wait(_launch(out, "--modes", "sampler", "--resume"), out)
    assert "resumed from the checkpoint at step 4" in (out / "log.0").read_text()
    rows = (out / "ckpt_sampler" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == list(range(1, STEPS + 1))
    a = np.load(uninterrupted / "final_sampler.0.npy")
    for i in range(2):
        b = np.load(out / f"final_sampler.{i}.npy")
        assert np.array_equal(a, b), f"process {i}: max diff {np.max(np.abs(a - b))}"
