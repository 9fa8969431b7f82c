"""Every public figure, built on tiny data: colorbars carry a label, every marker and dashed line is in a
legend (matplotlib Agg)."""

import matplotlib

matplotlib.use("Agg")

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import Collection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import jaxrep  # noqa: E402
from jaxrep import plot  # noqa: E402

rng = np.random.default_rng(0)


def _evaluation(grid_shape, n_out=2, train_box=None):
    """A synthetic `jaxrep.pinn.evaluate` result: two windows on a grid of `grid_shape` (() for an ODE)."""
    if len(grid_shape) == 0:
        xs = np.zeros((1, 0))
    elif len(grid_shape) == 1:
        xs = np.linspace(-1, 1, grid_shape[0])[:, None]
    else:
        g0, g1 = np.meshgrid(np.linspace(0, 1, grid_shape[0]), np.linspace(0, 1, grid_shape[1]), indexing="ij")
        xs = np.stack([g0.ravel(), g1.ravel()], -1)
    n_x = xs.shape[0]
    windows = []
    for w in ((0.0, 1.0), (1.0, 2.0)):
        ts = np.linspace(*w, 5)
        ref = rng.standard_normal((5, n_x, n_out))
        windows.append({"window": w, "ts": ts, "reference": ref, "network": ref + 0.1,
                        "koopman": ref - 0.1, "residual_mse": 0.1})
    out = {"xs": xs, "grid_shape": grid_shape, "windows": windows}
    if train_box is not None:
        out["train_box"] = train_box
        lo, hi = train_box[0]
        out["train_box_mask"] = (xs[:, 0] >= lo) & (xs[:, 0] <= hi)
    return out


def _kan():
    model = jaxrep.nn.KAN([2, 3, 1], grid_size=4, key=jr.PRNGKey(0))
    return model, jr.uniform(jr.PRNGKey(1), (32, 2), minval=-1, maxval=1)


def _spectrum_args():
    ev = np.array([-0.1 + 1j, -0.1 - 1j, -0.5])
    re, im = np.meshgrid(np.linspace(-1, 0.5, 8), np.linspace(-1.5, 1.5, 8))
    return ev, np.array([1e-6, 1e-6, 1e-3]), np.abs(re + 1j * im - 0.2)


FIGURES = {
    "loss_curve": lambda: plot.loss_curve({"step": np.arange(1, 6), "loss": np.linspace(1, 0.1, 5),
                                           "rmse": np.linspace(1, 0.3, 5)}),
    "loss_curve_linear": lambda: plot.loss_curve({"step": np.arange(1, 6), "loss": np.linspace(1, -0.5, 5)},
                                                 yscale="linear", ylabel="velocity loss"),
    "kan": lambda: plot.kan(*_kan(), num_points=10),
    "image_reconstruction": lambda: plot.image_reconstruction({"target": rng.random((8, 8)),
                                                               "fit": rng.random((8, 8, 3))}),
    "koopman_spectrum": lambda: plot.koopman_spectrum(
        _spectrum_args()[0], _spectrum_args()[1], reference=_spectrum_args()[0],
        pseudospectrum=(*np.meshgrid(np.linspace(-1, 0.5, 8), np.linspace(-1.5, 1.5, 8)), _spectrum_args()[2])),
    "koopman_spectrum_discrete": lambda: plot.koopman_spectrum(np.exp(_spectrum_args()[0]), continuous=False),
    "koopman_eigenfunctions": lambda: plot.koopman_eigenfunctions(
        lambda x: jnp.stack([x[0], x[1], x[0] * x[1]]), (-1, 1), (-1, 1), n=6, which=(0, 1, 2)),
    "koopman_forecast": lambda: plot.koopman_forecast(np.linspace(0, 1, 5), rng.random((5, 2)), rng.random((5, 2))),
    "pinn_solution_ode": lambda: plot.pinn_solution(_evaluation(())),
    "pinn_solution_1d": lambda: plot.pinn_solution(_evaluation((6,), train_box=((-0.5, 0.5),))),
    "pinn_solution_1d_koopman": lambda: plot.pinn_solution(_evaluation((6,)), mode="koopman"),
    "pinn_solution_2d": lambda: plot.pinn_solution(_evaluation((4, 5), train_box=((0.2, 0.8), (0.2, 0.8)))),
    "pinn_error_vs_time": lambda: plot.pinn_error_vs_time(_evaluation((6,), train_box=((-0.5, 0.5),))),
    "generator_structure": lambda: plot.generator_structure(np.array([[-1.0, 2.0, 0.0], [0.0, -1.0, 1e-6],
                                                                      [0.5, 0.0, -2.0]])),
    "samples": lambda: plot.samples(rng.standard_normal((20, 2)), rng.standard_normal((20, 2))),
    "trajectories": lambda: plot.trajectories(rng.standard_normal((4, 6, 2))),
    "density": lambda: plot.density(rng.standard_normal((6, 7)), (-1, 1, -1, 1)),
    "correspondence": lambda: plot.correspondence(rng.standard_normal((3, 5, 2))),
    "image_samples": lambda: plot.image_samples([[rng.uniform(-1, 1, (3, 16))] * 2, [rng.uniform(-1, 1, (3, 16))] * 2],
                                                (1, 4, 4), titles=("data", "generated"), row_labels=(0, 1), columns=3),
    "function_fit_1d": lambda: plot.function_fit(lambda x: jnp.sin(x), lambda x: 0.9 * jnp.sin(x), 1, n=8),
    "function_fit_2d": lambda: plot.function_fit(lambda x: x[:, :1] * x[:, 1:], lambda x: x[:1] * x[1:] + 0.1, 2,
                                                 n=6, label="KAN"),
    "grid_extension": lambda: plot.grid_extension([{"grid_size": g, "train_rmse": 1.0 / g, "test_rmse": 1.2 / g}
                                                   for g in (3, 5, 10)]),
    "fit_residuals": lambda: plot.fit_residuals(np.linspace(0, 1, 20), {"a": (np.linspace(0, 1, 20) + 0.01, 0.01),
                                                                       "b": (rng.random(20), 0.3)}, title="t"),
}


def test_every_public_figure_is_covered():
    public = {n for n in dir(plot) if not n.startswith("_") and callable(getattr(plot, n))} - {"save"}
    covered = {name.split("_ode")[0].split("_1d")[0].split("_2d")[0].split("_discrete")[0].split("_linear")[0]
               for name in FIGURES}
    assert public <= covered, f"figures without a test here: {sorted(public - covered)}"


def _all_axes(fig):
    axes = list(fig.axes)
    for sub in fig.subfigs:
        axes += _all_axes(sub)
    return axes


def _legend_texts(fig) -> set:
    legends = [ax.get_legend() for ax in _all_axes(fig)] + list(fig.legends)
    for sub in fig.subfigs:
        legends += list(sub.legends)
    return {t.get_text() for leg in legends if leg is not None for t in leg.get_texts()}


def _has_marker(line: Line2D) -> bool:
    return line.get_marker() not in (None, "None", "none", "", " ")


def _is_dashed(artist) -> bool:
    ls = artist.get_linestyle()
    if isinstance(artist, Collection):  # a list of (offset, dash pattern)
        return any(dashes is not None for _, dashes in ls)
    return ls not in ("-", "solid", "None", "none", "", " ")


def _problems(fig) -> list[str]:
    problems = []
    in_legend = _legend_texts(fig)
    for ax in _all_axes(fig):
        cb = getattr(ax, "_colorbar", None)
        if cb is not None:
            label = cb.ax.get_ylabel() if cb.orientation == "vertical" else cb.ax.get_xlabel()
            if not label.strip():
                problems.append(f"colorbar without a label (next to {cb.mappable.axes.get_title()!r})")
            continue
        for line in ax.get_lines():
            if (_has_marker(line) or _is_dashed(line)) and line.get_label() not in in_legend:
                problems.append(f"line {line.get_label()!r} (marker {line.get_marker()!r}, style "
                                f"{line.get_linestyle()!r}) on {ax.get_title()!r} is in no legend")
        for coll in ax.collections:
            markers = len(coll.get_offsets()) > 0 and type(coll).__name__ == "PathCollection"  # scatter
            if (markers or _is_dashed(coll)) and coll.get_label() not in in_legend:
                problems.append(f"{type(coll).__name__} {coll.get_label()!r} on {ax.get_title()!r} is in no legend")
        for patch in ax.patches:
            if isinstance(patch, Patch) and _is_dashed(patch) and patch.get_label() not in in_legend:
                problems.append(f"dashed patch {patch.get_label()!r} on {ax.get_title()!r} is in no legend")
    return problems


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_colorbars_are_labelled_and_marks_are_in_a_legend(name):
    fig = FIGURES[name]()
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        fig.canvas.draw()  # layout and legends render without error
        assert _problems(fig) == []
    finally:
        plt.close(fig)


def test_checker_catches_unlabelled_marks():
    fig, ax = plt.subplots()
    im = ax.imshow(np.eye(3))
    fig.colorbar(im, ax=ax)
    ax.plot([0, 1], [0, 1], "r--")
    ax.scatter([0], [0])
    found = _problems(fig)
    plt.close(fig)
    assert len(found) == 3, found


def test_image_samples_tiles_images_in_place_and_loss_curve_keeps_signs():
    # image (row i, column j) of a panel lands at pixel block (1 + 5 i, 1 + 5 j) of a 4 x 4 image with
    # one pixel of padding; values in [-1, 1] map to grey levels (v + 1) / 2
    rows = [np.stack([np.full(16, -1.0), np.linspace(-1, 1, 16)]), np.stack([np.full(16, 1.0), np.full(16, 0.0)])]
    fig = plot.image_samples([rows], (1, 4, 4), columns=2)
    try:
        tile = np.asarray(fig.axes[0].images[0].get_array())
        assert tile.shape == (2 * 5 + 1, 2 * 5 + 1)
        np.testing.assert_allclose(tile[1:5, 1:5], 0.0)
        np.testing.assert_allclose(tile[1:5, 6:10], (np.linspace(-1, 1, 16).reshape(4, 4) + 1) / 2)
        np.testing.assert_allclose(tile[6:10, 1:5], 1.0)
        np.testing.assert_allclose(tile[6:10, 6:10], 0.5)
        assert tile[0].max() == 0 and tile[:, 5].max() == 0  # padding
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        plot.image_samples([rows], (4, 4))
    loss = np.array([0.5, -0.2, -1.0])
    fig = plot.loss_curve({"step": np.arange(3), "loss": loss}, yscale="linear")
    try:
        np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), loss)
        assert fig.axes[0].get_yscale() == "linear"
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="yscale must be"):
        plot.loss_curve({"step": np.arange(3), "loss": loss}, yscale="symlog")
