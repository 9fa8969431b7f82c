"""The PINN training step of `jaxrep.train.fit`, rebuilt for timing: shared by the step-cost benchmarks.

No side effects on import (the benchmarks pin their process and set XLA's flags before importing jax).
"""

import pathlib
import platform

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr


def scan_runner(model, loss_fn, sampler, opt, steps: int):
    """A jitted `run(carry) -> (carry, losses)` advancing `(params, opt_state, key, step)` by `steps`
    training steps (draw the points, loss, gradient, optimiser update) in one `lax.scan`, as `fit` does;
    returns `(run, carry, static)` with the initial carry."""
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def one(carry, _):
        params, opt_state, key, step = carry
        key, k_data, k_step = jr.split(key, 3)
        batch = sampler(k_data, step)
        (loss, _), grads = eqx.filter_value_and_grad(
            lambda p: loss_fn(eqx.combine(p, static), batch, k_step), has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (eqx.apply_updates(params, updates), opt_state, key, step + 1), loss

    @jax.jit
    def run(carry):
        return jax.lax.scan(one, carry, None, length=steps)

    carry = (params, opt.init(params), jr.PRNGKey(1), jnp.zeros((), jnp.int32))
    return run, carry, static


def cpu_name() -> str:
    """The CPU's model name (`/proc/cpuinfo` on Linux, else `platform.processor()`), for the machine
    record of a benchmark result."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
