"""The shared argument checks (jaxrep/_validate.py): what they accept, and one-line errors naming the
argument for everything else."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrep._validate import check_fraction, check_int, check_positive, did_you_mean


@pytest.mark.parametrize("value", [1, 0.5, 1e-300, np.float32(2.0), np.array(3.0), jnp.asarray(0.25)])
def test_check_positive_accepts_finite_positive_scalars(value):
    out = check_positive(value, "scale")
    assert isinstance(out, float) and out == float(value)


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, True, "1.0", None, [1.0], np.ones(2)])
def test_check_positive_rejects_the_rest_in_one_line(value):
    with pytest.raises(ValueError, match=r"^model\.scale must be > 0, got ") as e:
        check_positive(value, "model.scale")
    assert "\n" not in str(e.value)


def test_check_int_and_fraction():
    assert check_int(3, "n") == 3 and check_int(np.int64(0), "n", minimum=0) == 0
    for bad in (0, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
            check_int(bad, "n")
    assert check_fraction(0.0, "decay") == 0.0 and check_fraction(0.999, "decay") == 0.999
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match=r"^decay must be a float in \[0, 1\), got "):
            check_fraction(bad, "decay")


def test_did_you_mean():
    assert did_you_mean("regresion", ["regression", "pinn"]) == "; did you mean 'regression'?"
    assert did_you_mean("pinns", ["pinn"], paren=True) == " (did you mean 'pinn'?)"
    assert did_you_mean("zzz", ["pinn"]) == ""
