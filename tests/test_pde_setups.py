"""The named pseudo-spectral setups are one table: the solvers and the problem classes read the same records."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import jaxrep.pde as P
from jaxrep.pde import problems


@pytest.mark.parametrize("name", sorted(P.SPECTRAL_SETUPS))
def test_problem_class_is_its_setup_plus_a_residual(name):
    setup = P.SPECTRAL_SETUPS[name]
    cls = type(problems.get(name))
    prob = cls()
    assert cls.setup is setup and cls.name == prob.name == name
    assert cls.lower == prob.lower == (setup.x_domain[0],) * setup.dim
    assert cls.upper == prob.upper == (setup.x_domain[1],) * setup.dim
    assert cls.n_out == len(cls.component_names) == setup.n_out and not cls.has_exact
    t0, t1 = setup.t_domain
    assert prob.time_window == (t0, t1)
    assert prob.train_window == (t0, (t0 + t1) / 2) and prob.extrapolation_windows == (((t0 + t1) / 2, t1),)
    # one field per physical parameter, defaulting to the record's value, each checked to be > 0
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(setup.params) <= fields
    for key, value in setup.params.items():
        assert getattr(prob, key) == value
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {key} must be a finite number > 0"):
            cls(**{key: -value})
    x = jnp.linspace(0.1, 0.4, setup.dim)
    np.testing.assert_array_equal(prob.initial_condition(x), setup.initial_condition(x))
    assert prob.initial_condition(x).shape == (setup.n_out,)


def test_named_reference_uses_the_problems_parameters(monkeypatch):
    # A problem built with other parameters asks the table's solver for exactly those.
    import jaxrep.pde._reference_problems as RP

    calls = []
    monkeypatch.setattr(RP, "_spectral_ref", lambda name, **kw: calls.append((name, kw)) or None)
    problems.CahnHilliard(gamma1=2e-3)._grid_reference()
    problems.Schrodinger()._grid_reference()
    assert calls == [("cahn_hilliard", {"gamma1": 2e-3, "gamma2": 0.1}), ("schrodinger", {})]


def test_named_spectral_reference_equals_the_named_solver(x64):
    kw = dict(n=32, n_t=5, dt=1e-2, cache=False)
    a = P.named_spectral_reference("cahn_hilliard", gamma2=0.2, **kw)
    b = P.cahn_hilliard_reference(gamma2=0.2, **kw)
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    assert a.values.shape == (5, 32, 1)


def test_named_spectral_reference_bad_input():
    with pytest.raises(ValueError, match="unknown spectral setup 'allen_kahn'; did you mean 'allen_cahn'"):
        P.named_spectral_reference("allen_kahn")
    with pytest.raises(TypeError, match=r"cahn_hilliard: unknown parameter\(s\) \['nu'\]"):
        P.named_spectral_reference("cahn_hilliard", nu=0.1)
    with pytest.raises(TypeError, match="n_store is not a parameter"):
        P.named_spectral_reference("fisher_kpp", n_store=64)
    with pytest.raises(ValueError, match="D must be > 0"):
        P.named_spectral_reference("fisher_kpp", D=0.0)


@pytest.mark.parametrize("name", problems.names())
def test_windows_are_keyword_fields_derived_from_t_domain(name):
    # Every problem declares only t_domain; the windows default to it and its two halves, and the
    # constructor's positional arguments are the physical parameters, never a window.
    cls = type(problems.get(name))
    t0, t1 = cls.t_domain
    mid = (t0 + t1) / 2
    prob = cls()
    assert (prob.time_window, prob.train_window, prob.extrapolation_windows) == ((t0, t1), (t0, mid), ((mid, t1),))
    assert prob.train_box is None
    fields = [f for f in dataclasses.fields(cls) if f.init]
    windows = {"time_window", "train_window", "extrapolation_windows", "train_box"}
    assert all(f.kw_only for f in fields if f.name in windows)
    params = [f.name for f in fields if not f.kw_only]
    assert not windows & set(params)
    if params and isinstance(getattr(prob, params[0]), float):
        value = 1.5 * getattr(prob, params[0])
        assert getattr(cls(value), params[0]) == value
    # a window given alone leaves the others at their defaults; None means "no extrapolation windows"
    assert cls(train_window=(t0, t0 + (t1 - t0) / 4)).extrapolation_windows == ((mid, t1),)
    assert cls(extrapolation_windows=None).extrapolation_windows == ()
