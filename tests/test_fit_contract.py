"""`fit`'s contract: a broken loss_fn or sampler raises a TypeError naming it and the expected form."""

import itertools

import jax.numpy as jnp
import optax
import pytest

import jaxrep


def _model(getkey):
    return jaxrep.nn.MLP(2, 1, 4, 1, key=getkey())


def _sampler(key, step):
    return jnp.ones((4, 2)), jnp.zeros((4, 1))


def _fit(model, loss, data, getkey, **kw):
    return jaxrep.train.fit(model, loss, data, optax.sgd(1e-2), steps=2, key=getkey(), progress=False, **kw)


def _mse(m, batch):
    x, y = batch
    import jax

    return jnp.mean((jax.vmap(m)(x) - y) ** 2)


@pytest.mark.parametrize(
    "loss, words",
    [
        (lambda m, b, k: (jnp.full((3,), _mse(m, b)), {}), ["loss_fn", "scalar", "shape (3,)"]),
        (lambda m, b, k: _mse(m, b), ["loss_fn", "(loss, aux)", "an array of shape ()"]),
        (lambda m, b, k: (_mse(m, b), {}, {}), ["loss_fn", "(loss, aux)", "a 3-tuple"]),
        (lambda m, b, k: (_mse(m, b), None), ["loss_fn", "aux", "NoneType"]),
        (lambda m, b, k: (_mse(m, b), {"err": jnp.zeros(2)}), ["loss_fn", "aux['err']", "shape (2,)"]),
        (lambda m, b, k: (jnp.sum(b[0] > 0), {}), ["loss_fn", "dtype int32"]),
    ],
    ids=["vector-loss", "bare-scalar", "three-tuple", "aux-none", "aux-vector", "int-loss"],
)
def test_loss_fn_contract(getkey, loss, words):
    with pytest.raises(TypeError) as err:
        _fit(_model(getkey), loss, _sampler, getkey)
    msg = str(err.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg and "Gradient only defined" not in msg


def test_stateful_loss_contract(getkey):
    loss = lambda m, b, k, s: (_mse(m, b), {})  # noqa: E731 - forgot the new loss state
    with pytest.raises(TypeError, match=r"loss_fn\(model, batch, key, loss_state\).*\(loss, aux, new_loss_state\)"):
        _fit(_model(getkey), loss, _sampler, getkey, loss_state={"w": 1.0})


def test_sampler_contract(getkey):
    loss = lambda m, b, k: (_mse(m, b), {})  # noqa: E731
    with pytest.raises(TypeError, match=r"sampler data .*pytree of arrays.*\[1\] is a str"):
        _fit(_model(getkey), loss, lambda key, step: (jnp.ones((4, 2)), "y"), getkey)
    # A sampler that is not a pure function of (key, step): its shape changes between calls.
    sizes = itertools.count(4)

    def impure(key, step):
        n = next(sizes)
        return jnp.ones((n, 2)), jnp.zeros((n, 1))

    with pytest.raises(TypeError, match=r"sampler data .*same structure and shapes.*\[0\] changed from shape \(4, 2\)"):
        _fit(_model(getkey), loss, impure, getkey)
    # A phase's own sampler is named as such.
    with pytest.raises(TypeError, match=r"sampler phases\[1\]\.data"):
        jaxrep.train.fit(_model(getkey), loss, _sampler, key=getkey(), progress=False,
                         phases=[jaxrep.train.Phase(optax.sgd(1e-2), 1),
                                 jaxrep.train.Phase(optax.sgd(1e-2), 1, data=lambda key, step: {"x": object()})])


def test_iterable_batches_contract(getkey):
    loss = lambda m, b, k: (_mse(m, b), {})  # noqa: E731
    batches = [(jnp.ones((4, 2)), jnp.zeros((4, 1))), (jnp.ones((5, 2)), jnp.zeros((5, 1)))]
    with pytest.raises(TypeError, match=r"data must yield batches of one structure and shape.*\[0\]"):
        _fit(_model(getkey), loss, batches, getkey, steps_per_call=2)


def test_valid_contract_still_trains(getkey):
    loss = lambda m, b, k: (_mse(m, b), {"mse": _mse(m, b)})  # noqa: E731
    _, hist = _fit(_model(getkey), loss, _sampler, getkey)
    assert list(hist["step"]) == [1, 2] and set(hist) == {"step", "loss", "mse", "time"}
