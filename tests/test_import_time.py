"""`import jaxrep` stays light: heavy dependencies load only when a function needs them.

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

import json
import subprocess
import sys
import textwrap

import pytest

# diffrax (and its lineax), orbax, matplotlib and flax each cost 0.3-1.5 s to import.
HEAVY = ("diffrax", "lineax", "orbax", "orbax.checkpoint", "matplotlib", "flax")


def _loaded_after(code: str) -> dict:
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps({{m: m in sys.modules for m in {HEAVY!r} + ("jax",)}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_jaxrep_loads_no_heavy_dependency():
    loaded = _loaded_after("import jaxrep")
    assert not any(loaded[m] for m in HEAVY), loaded


def test_every_family_loads_no_heavy_dependency():
    # Touching every family (and the submodules users reach for) must not pull the heavy ones in either.
    loaded = _loaded_after("""
        import jaxrep as jr
        for name in ("config", "data", "interpolants", "koopman", "nn", "pinn", "plot", "train"):
            getattr(jr, name)
        jr.pinn.problems.get, jr.nn.basis.bspline, jr.koopman.losses, jr.plot.loss_curve
        jr.interpolants.sample, jr.train.fit, jr.data.toy2d
        from jaxrep import nn, pinn  # the from-import form goes through the same lazy path
    """)
    assert loaded["jax"]
    assert not any(loaded[m] for m in HEAVY), {m: v for m, v in loaded.items() if v}


def test_heavy_dependencies_load_on_first_use():
    loaded = _loaded_after("""
        import jax.numpy as jnp
        import jaxrep as jr
        jr.nn.flax.KANLayer
        jr.interpolants.sample(lambda t, x: -x, jnp.ones(2), steps=2)
    """)
    assert loaded["flax"] and loaded["diffrax"]


def test_families_are_attributes():
    import jaxrep

    for name in ("config", "data", "interpolants", "koopman", "nn", "pinn", "plot", "train"):
        assert name in dir(jaxrep)
        assert getattr(jaxrep, name).__name__ == f"jaxrep.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        jaxrep.nope
