"""gdjax.plot: every function writes a real, non-blank image; matplotlib is imported lazily."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.image
import matplotlib.pyplot as plt

import gdjax
from gdjax import landscapes, plot, trajectories

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_image(path: Path, min_size=(200, 150), max_size=(4000, 4000)) -> None:
    """A valid PNG of a plausible size whose pixels are not all one colour."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1]
    assert pixels[..., :3].std() > 0.05, "the image is blank"


@pytest.fixture(scope="module")
def ellipse_runs():
    land = landscapes.ellipse
    return {
        "GD": trajectories.run(gdjax.sgd(0.02), land, land.starts, 12),
        "momentum": trajectories.run(gdjax.sgd(0.02, momentum=0.5), land, land.starts, 12),
    }


def legend_labels(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_contour_of_a_landscape_marks_its_minima_and_saddles(tmp_path):
    ax = plot.contour(landscapes.two_gaussians)
    markers = {line.get_marker() for line in ax.get_lines()}
    assert {"+", "x", "d"} <= markers  # global, local, saddle
    assert ax.get_xlim() == (-2.0, 2.0)
    assert ax.get_legend() is None  # no legend unless asked for
    assert_image(plot.save(ax, tmp_path / "two_gaussians.png"))


def test_contour_legend_names_the_critical_point_markers(tmp_path):
    ax = plot.contour(landscapes.two_gaussians, legend="lower left")
    assert legend_labels(ax) == ["global minimum", "local minimum", "saddle point"]
    handles = ax.get_legend().legend_handles
    assert [h.get_marker() for h in handles] == ["+", "x", "d"]
    assert_image(plot.save(ax, tmp_path / "legend.png"))
    # The landscape has no local minimum or saddle: only what is marked gets an entry.
    ax = plot.contour(landscapes.ellipse, legend="best")
    assert legend_labels(ax) == ["global minimum"]
    handles, labels = plot.legend_handles(ax)
    assert labels == ["global minimum"] and len(handles) == 1
    plt.close("all")


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "himmelblau"])
def test_contour_log_levels_for_steep_landscapes(tmp_path, name):
    ax = plot.contour(landscapes.get(name), log=True, resolution=60)
    assert_image(plot.save(ax, tmp_path / f"{name}.png"))


def test_contour_of_a_plain_function_needs_bounds(tmp_path):
    def fn(p):
        return p[..., 0] ** 2 + 3 * p[..., 1] ** 2

    with pytest.raises(ValueError, match="bounds"):
        plot.contour(fn)
    ax = plot.contour(fn, bounds=((-1, 1), (-2, 2)), levels=5, resolution=50)
    assert ax.get_ylim() == (-2, 2)
    assert_image(plot.save(ax, tmp_path / "fn.png"))


def test_contour_and_curve_reject_the_wrong_dimension():
    with pytest.raises(ValueError, match="curve"):
        plot.contour(landscapes.parabola)
    with pytest.raises(ValueError, match="contour"):
        plot.curve(landscapes.bowl)
    plt.close("all")


def test_paths_one_legend_entry_per_optimizer_not_per_start(tmp_path, ellipse_runs):
    ax = plot.paths(ellipse_runs, landscape=landscapes.ellipse)
    assert legend_labels(ax) == ["GD", "momentum", "global minimum"]
    path_lines = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(path_lines) == 2 * 3  # every start of every optimizer is drawn
    assert len({(line.get_color(), line.get_marker()) for line in path_lines}) == 2
    assert ax.get_xlim() == (-1.0, 3.0)  # the view stays on the landscape
    assert_image(plot.save(ax, tmp_path / "paths.png"))


def test_paths_of_a_single_run_thinned_without_legend(ellipse_runs):
    run = ellipse_runs["GD"]
    ax = plot.paths(run, every=5)
    assert ax.get_legend() is None
    xs = ax.get_lines()[0].get_xdata()
    np.testing.assert_allclose(xs, np.asarray(run.positions)[[0, 5, 10, 12], 0, 0])
    plt.close(ax.figure)


def test_paths_on_a_1d_curve_are_points_x_fx(tmp_path):
    land = landscapes.parabola
    run = trajectories.run(gdjax.sgd(0.03), land, [-0.9], 15)
    ax = plot.paths({"GD, lr 0.03": run}, landscape=land)
    line = ax.get_lines()[-1]
    np.testing.assert_allclose(line.get_xdata(), np.asarray(run.positions)[:, 0, 0])
    np.testing.assert_allclose(line.get_ydata(), np.asarray(run.values)[:, 0])
    assert ax.get_xlim() == (-1.0, 3.0)
    assert_image(plot.save(ax, tmp_path / "curve.png"))


def test_by_start_gives_one_run_per_start(ellipse_runs):
    split = plot.by_start(ellipse_runs["GD"], ["a", "b", "c"])
    assert list(split) == ["a", "b", "c"]
    assert split["b"].positions.shape == (13, 1, 2)
    with pytest.raises(ValueError, match="2 labels for 3 starts"):
        plot.by_start(ellipse_runs["GD"], ["a", "b"])


def test_values_log_gap_to_the_minimum(tmp_path, ellipse_runs):
    minimum = landscapes.ellipse.minima[0].value
    ax = plot.values(ellipse_runs, log=True, minimum=minimum)
    assert ax.get_yscale() == "log"
    assert legend_labels(ax) == ["GD", "momentum"]
    mean = ax.get_lines()[0].get_ydata()
    expected = (np.asarray(ellipse_runs["GD"].values, np.float64) - minimum).mean(axis=1)
    np.testing.assert_allclose(mean, expected, rtol=1e-5)
    assert len(ax.collections) == 2  # the min-max band over starts
    assert_image(plot.save(ax, tmp_path / "values.png"))


def test_values_gap_to_a_minimum_of_zero_is_drawn_down_to_zero(tmp_path):
    # f* = 0: the gap is exact in float32 down to 1e-38 and then 0, so the linear
    # convergence is drawn over all its decades (not floored at float32's eps) and
    # the steps at gap 0 at the bottom of a symlog axis (a log one would drop them).
    run = trajectories.run(gdjax.sgd(0.1), landscapes.bowl, [[15.0, 15.0], [3.0, -2.0]], 400)
    gaps = np.asarray(run.values, np.float64)
    assert 0 < gaps[gaps > 0].min() < 1e-37 and (gaps == 0).any()
    ax = plot.values({"SGD": run}, minimum=0.0)
    assert ax.get_yscale() == "symlog" and ax.get_ylim()[0] == 0.0
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), gaps.mean(axis=1), rtol=1e-6)
    assert len(ax.get_yticks()) <= 10  # not one label per decade
    assert_image(plot.save(ax, tmp_path / "values.png"))
    # The same rule wherever a log axis is chosen: f itself, and bands of curves.
    for ax in (plot.values(run), plot.bands(run.steps, {"SGD": gaps.T})):
        assert ax.get_yscale() == "symlog" and ax.get_ylim()[0] == 0.0
        plt.close(ax.figure)


def test_values_gap_below_the_resolution_of_a_nonzero_minimum_is_rounding():
    # f* = -2.019 in float32: values within its resolution (eps * |f*|) of it are
    # rounding, even below it; the gap is drawn at that resolution, on a log axis.
    land = landscapes.two_gaussians
    minimum = land.minima[0].value
    run = trajectories.run(gdjax.sgd(0.4), land, [[-1.5, 1.2]], 300)
    assert (np.asarray(run.values, np.float64) - minimum).min() < 0
    ax = plot.values(run, log=True, minimum=minimum)
    assert ax.get_yscale() == "log"
    resolution = np.finfo(np.float32).eps * abs(minimum)
    assert ax.get_lines()[0].get_ydata().min() == pytest.approx(resolution)
    plt.close(ax.figure)


def test_values_of_an_exploding_saddle_get_a_symlog_axis(tmp_path):
    land = landscapes.saddle
    run = trajectories.run(gdjax.sgd(0.1), land, [[1.0, 0.01], [-0.5, -0.02]], 200)
    assert np.asarray(run.values).min() < -1e6  # the paths run off to minus infinity
    ax = plot.values({"SGD": run})
    assert ax.get_yscale() == "symlog"
    assert_image(plot.save(ax, tmp_path / "saddle_values.png"))
    for forced, scale in (("linear", "linear"), (False, "linear"), ("symlog", "symlog")):
        ax = plot.values({"SGD": run}, log=forced)
        assert ax.get_yscale() == scale
        plt.close(ax.figure)


def test_values_scale_is_chosen_from_the_values():
    land = landscapes.ellipse
    slow = trajectories.run(gdjax.sgd(0.02), land, land.starts, 12)  # a few percent lower
    ax = plot.values(slow)
    assert ax.get_yscale() == "linear"
    plt.close(ax.figure)
    fast = trajectories.run(gdjax.sgd(0.9), land, land.starts, 200)  # decades down to ~0
    ax = plot.values(fast, minimum=land.minima[0].value)
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)
    ax = plot.values({"12 steps": slow, "200 steps": fast})  # runs of different lengths
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [13, 201]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="log must be None, True, False"):
        plot.values(slow, log="ln")
    plt.close("all")


def test_state_curves_velocity_history(tmp_path):
    run = trajectories.run(
        gdjax.sgd(0.1, momentum=0.9), landscapes.bowl, [[15.0, 15.0]], 40, record_state=True
    )
    velocity = -0.1 * np.asarray(run.states[0].trace)[:, 0]
    ax = plot.state_curves(run.steps, {"x": velocity[:, 0], "y": velocity[:, 1]}, ylabel="v")
    assert ax.get_xlabel() == "iterations" and ax.get_ylabel() == "v"
    assert legend_labels(ax) == ["x", "y"]
    assert_image(plot.save(ax, tmp_path / "velocity.png"))


def test_sweep_heatmap_marks_best_and_diverged(tmp_path):
    from matplotlib.patches import Rectangle

    result = trajectories.sweep(
        lambda learning_rate, momentum: gdjax.sgd(learning_rate, momentum),
        {"learning_rate": np.logspace(-3, 0, 6), "momentum": [0.0, 0.5, 0.9]},
        landscapes.canyon,
        landscapes.canyon.starts,
        30,
        bound=1e3,
    )
    assert np.asarray(result.diverged).any() and not np.asarray(result.diverged).all()
    ax = plot.sweep_heatmap(result)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert len(hatched) >= 2  # the diverged cells plus the legend handle
    best = result.best()
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert star.get_xdata()[0] == pytest.approx(best["learning_rate"], rel=1e-6)
    # Momenta 0, 0.5, 0.9 are not evenly spaced: equal cells 0, 1, 2 labelled with them.
    assert star.get_ydata()[0] == [0.0, 0.5, 0.9].index(pytest.approx(best["momentum"]))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5", "0.9"]
    assert len(ax.figure.axes) == 2  # the colorbar
    assert_image(plot.save(ax, tmp_path / "heatmap.png"))


def test_sweep_heatmap_of_a_1d_grid_is_a_line(tmp_path):
    result = trajectories.sweep(
        lambda learning_rate: gdjax.sgd(learning_rate),
        {"learning_rate": np.logspace(-3, 0, 8)},
        landscapes.canyon,
        landscapes.canyon.starts,
        30,
        bound=1e3,
    )
    ax = plot.sweep_heatmap(result, by="steps")
    assert ax.get_xscale() == "log"
    assert "diverged" in legend_labels(ax)
    assert_image(plot.save(ax, tmp_path / "line.png"))


def mesh_of(ax):
    from matplotlib.collections import QuadMesh

    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def cell_edges(ax) -> tuple[np.ndarray, np.ndarray]:
    """The x and y cell edges of the heat map in data coordinates."""
    corners = mesh_of(ax).get_coordinates()  # (ny + 1, nx + 1, 2)
    return corners[0, :, 0], corners[:, 0, 1]


def test_heatmap_draws_equal_cells_for_a_list_of_values(tmp_path):
    momenta = [0.0, 0.5, 0.9, 0.99]
    rates = np.geomspace(0.01, 1.0, 5)
    scores = np.outer(np.arange(1, 6), np.arange(1, 5)).astype(float)
    ax = plot.heatmap(
        plot.GridAxis("learning rate", rates), plot.GridAxis("momentum", momenta), scores
    )
    x_edges, y_edges = cell_edges(ax)
    np.testing.assert_allclose(np.diff(y_edges), 1.0)  # equal cells, not 0.5 vs 0.09
    np.testing.assert_allclose(np.diff(np.log10(x_edges)), 0.5)  # a geometric grid: log cells
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5", "0.9", "0.99"]
    assert ax.get_ylim() == (-0.5, 3.5)
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "momentum"
    assert_image(plot.save(ax, tmp_path / "categorical.png"))


def test_heatmap_keeps_evenly_spaced_values_on_their_axis():
    ax = plot.heatmap(("a", [0.0, 0.5, 1.0]), ("b", [1.0, 2.0, 3.0, 4.0]), np.ones((3, 4)))
    x_edges, y_edges = cell_edges(ax)
    np.testing.assert_allclose(x_edges, [-0.25, 0.25, 0.75, 1.25])
    np.testing.assert_allclose(y_edges, [0.5, 1.5, 2.5, 3.5, 4.5])
    ax = plot.heatmap(("a", [0.0, 0.5, 1.0], "category"), ("b", [1.0, 2.0]), np.ones((3, 2)))
    x_edges, _ = cell_edges(ax)
    np.testing.assert_allclose(x_edges, [-0.5, 0.5, 1.5, 2.5])
    plt.close("all")


def test_heatmap_colour_scale_is_logarithmic_for_scores_spanning_decades():
    from matplotlib.colors import LogNorm

    values = (("lr", [0.1, 1.0]), ("momentum", [0.0, 0.9]))
    ax = plot.heatmap(*values, [[0.02, 0.5], [0.03, 0.04]])
    assert isinstance(mesh_of(ax).norm, LogNorm)  # a factor of 25
    ax = plot.heatmap(*values, [[0.2, 0.5], [0.3, 0.4]])
    assert not isinstance(mesh_of(ax).norm, LogNorm)
    ax = plot.heatmap(*values, [[0.2, 0.5], [0.3, 0.4]], log_colors=True)
    assert isinstance(mesh_of(ax).norm, LogNorm)
    plt.close("all")


def test_heatmap_marks_points_best_and_failed_cells(tmp_path):
    from matplotlib.patches import Rectangle

    scores = np.array([[0.3, 0.01], [0.2, np.nan]])
    failed = np.array([[False, True], [False, False]])
    marks = {"book": (1.0, 0.9), "off the grid": (50.0, 0.0)}
    ax = plot.heatmap(("lr", [0.1, 1.0]), ("momentum", [0.0, 0.9]), scores, failed, marks=marks)
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (1.0, 0.0)  # the failed 0.01 is not best
    book = next(line for line in ax.get_lines() if line.get_label() == "book")
    assert (book.get_xdata()[0], book.get_ydata()[0]) == (1.0, 1.0)  # momentum 0.9: cell 1
    assert "off the grid" not in legend_labels(ax)
    assert {"diverged", "no score"} <= set(legend_labels(ax))
    assert any(isinstance(p, Rectangle) and p.get_hatch() for p in ax.patches)
    assert_image(plot.save(ax, tmp_path / "marks.png"))
    with pytest.raises(ValueError, match=r"scores must have shape \(2, 2\)"):
        plot.heatmap(("lr", [0.1, 1.0]), ("momentum", [0.0, 0.9]), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"heatmap: y must be a GridAxis\(name, values"):
        plot.heatmap(("lr", [0.1, 1.0]), [0.0, 0.9], np.ones((2, 2)))


def test_bands_histograms_errorbars_and_bars_write_images(tmp_path):
    rng = np.random.default_rng(0)
    curves = np.exp(-np.linspace(0, 5, 20))[None] * rng.uniform(0.5, 2, (6, 1))
    ax = plot.bands(np.arange(20), {"a": curves, "b": 2 * curves}, log=True, ylabel="loss")
    assert ax.get_yscale() == "log" and len(ax.collections) == 2
    assert legend_labels(ax) == ["a: mean of 6", "a: min-max", "b: mean of 6", "b: min-max"]
    assert_image(plot.save(ax, tmp_path / "bands.png"))
    with pytest.raises(ValueError, match=r"must be \(runs, 20\)"):
        plot.bands(np.arange(20), {"a": np.ones((2, 3))})

    ax = plot.histograms({"one": rng.normal(0, 1, 50), "two": rng.normal(1, 1, 50)}, xlabel="x")
    assert legend_labels(ax) == ["one", "two"]
    assert_image(plot.save(ax, tmp_path / "histograms.png"))

    means, errors = np.array([0.95, 0.97]), np.array([0.004, 0.003])
    points = means[:, None] + rng.normal(0, 0.005, (2, 5))
    ax = plot.errorbars(["SGD", "Adam"], means, errors, points=points, ylabel="accuracy")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["SGD", "Adam"]
    assert legend_labels(ax) == ["one run", "mean ± SE"]
    assert_image(plot.save(ax, tmp_path / "errorbars.png"))

    ax = plot.bars(["SGD", "Adam"], [12.0, 13.0], ylabel="s")
    assert ax.get_ylim()[0] == 0.0  # bars stand on 0
    assert_image(plot.save(ax, tmp_path / "bars.png"))


# --------------------------------------------------------------------------- experiment figures
# Duck-typed: any object with the result's fields draws; these stand in for the experiments.


def fake_momentum():
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        mcc=np.stack([rng.normal(0.97, 0.002, 22), rng.normal(0.89, 0.1, 22)]),
        labels=("no momentum, lr 1.0", "momentum 0.9, lr 0.2"),
        dataset="digits",
        steps=10_000,
    )


def fake_optimizers():
    rng = np.random.default_rng(1)
    accuracy = rng.normal(0.95, 0.005, (4, 5))
    return SimpleNamespace(
        labels=("SGD", "RMSprop", "Adagrad", "Adam"),
        accuracy=accuracy,
        mean=accuracy.mean(axis=1),
        se=accuracy.std(axis=1, ddof=1) / np.sqrt(5),
        seconds=np.array([13.1, 12.6, 12.7, 13.2]),
        dataset="digits",
        epochs=12,
    )


def fake_grid():
    rates, momenta = np.geomspace(0.01, 3, 8), np.array([0.0, 0.5, 0.9, 0.95])
    loss = 0.02 + 0.4 * np.abs(np.log10(rates[:, None] / (1 - momenta[None])) - 0.3) / 2.5
    failed = np.zeros(loss.shape, bool)
    failed[-1, -1] = True
    return SimpleNamespace(
        learning_rates=rates,
        momenta=momenta,
        validation_loss=loss,
        failed=failed,
        dataset="digits",
        steps=10_000,
    )


def fake_noise():
    rng = np.random.default_rng(2)
    curves = np.exp(-np.linspace(0, 3, 95))[None, None] * rng.uniform(0.3, 3, (2, 10, 1))
    return SimpleNamespace(
        history=SimpleNamespace(train_loss=2.3 * curves),
        labels=("plain SGD", "noisy SGD (eta 0.3)"),
        epoch_steps=np.minimum(np.arange(1, 96) * 22, 2000),
        depth=30,
        learning_rate=0.005,
        eta=0.3,
        gamma=0.55,
    )


@pytest.mark.parametrize(
    ("name", "fake"),
    [
        ("momentum_figure", fake_momentum),
        ("optimizers_figure", fake_optimizers),
        ("grid_figure", fake_grid),
        ("noise_figure", fake_noise),
    ],
)
def test_experiment_figures_write_images(name, fake, tmp_path):
    from matplotlib.figure import Figure

    fig = getattr(plot, name)(fake())
    assert isinstance(fig, Figure)
    assert_image(plot.save(fig, tmp_path / f"{name}.png"))
    assert not plt.fignum_exists(fig.number)


def test_grid_figure_uses_a_log_colour_scale_and_equal_momentum_cells():
    from matplotlib.colors import LogNorm

    fig = plot.grid_figure(fake_grid())
    ax = fig.axes[0]
    assert isinstance(mesh_of(ax).norm, LogNorm)  # losses from 0.02 to 0.4
    _, y_edges = cell_edges(ax)
    np.testing.assert_allclose(np.diff(y_edges), 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5", "0.9", "0.95"]
    labels = legend_labels(ax)
    assert "book: lr 0.2, momentum 0.9" in labels and "diverged" in labels
    plt.close(fig)


def test_optimizers_figure_shows_points_with_standard_errors_and_time_from_zero():
    fig = plot.optimizers_figure(fake_optimizers())
    top, bottom = fig.axes
    assert "mean ± SE of 5 runs" in legend_labels(top)
    assert top.get_ylabel() == "test accuracy"
    assert not top.patches  # points, not bars that would start off zero
    assert bottom.get_ylim()[0] == 0.0
    plt.close(fig)


def plot_imports(source: str) -> list[int]:
    """The lines of ``source`` that import gdjax.plot (absolutely or relatively)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base, *(f"{base}.{alias.name}".replace("..", ".", 1) for alias in node.names)]
            names += [f"{base}{alias.name}" for alias in node.names if base.endswith(".")]
        else:
            continue
        if any(
            name == "gdjax.plot"
            or name.startswith("gdjax.plot.")
            or (name.startswith(".") and name.endswith(".plot"))
            for name in names
        ):
            lines.append(node.lineno)
    return lines


def test_the_import_scan_finds_every_spelling():
    for source in (
        "from gdjax import plot",
        "import gdjax.plot as p",
        "from gdjax.plot import save",
        "from .. import plot",
        "from . import landscapes, plot",
    ):
        assert plot_imports(source) == [1], source
    for source in ("from matplotlib import pyplot", "import gdjax.plotting", "from . import x"):
        assert plot_imports(source) == [], source


def test_no_module_of_gdjax_but_the_cli_imports_plot():
    package = ROOT / "gdjax"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ("cli", "plot"):  # the CLI, and the plot package itself
            continue
        offenders += [f"{relative}:{line}" for line in plot_imports(path.read_text())]
    assert not offenders, f"gdjax.plot is for the CLI, examples and benchmarks: {offenders}"


def test_animate_writes_a_gif(tmp_path, ellipse_runs):
    from PIL import Image

    path = plot.animate(landscapes.ellipse, ellipse_runs, tmp_path / "sub" / "a.gif", every=4)
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    with Image.open(path) as gif:
        assert gif.n_frames == 4  # records 0, 4, 8 and the last
        assert gif.size[0] >= 300
    assert not plt.get_fignums()


def test_save_creates_parents_and_closes_the_figure(tmp_path):
    fig, ax = plot.subplots()
    ax.plot([0, 1], [1, 0])
    path = plot.save(fig, tmp_path / "a" / "b" / "line.png", dpi=50)
    assert path.exists() and not plt.fignum_exists(fig.number)
    assert_image(path, min_size=(100, 100))


def test_missing_matplotlib_error_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'gdjax\[plot\]'"):
        plot.contour(landscapes.bowl)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin", **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def test_import_does_not_import_matplotlib_and_drawing_selects_agg():
    result = run_python(
        """
        import sys
        import gdjax.plot
        assert "matplotlib" not in sys.modules, "import gdjax.plot imported matplotlib"
        gdjax.plot.subplots()
        import matplotlib
        print(matplotlib.get_backend().lower())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agg"


def test_missing_matplotlib_in_a_fresh_interpreter():
    result = run_python(
        """
        import sys
        sys.modules["matplotlib"] = None
        import gdjax.plot
        try:
            gdjax.plot.subplots()
        except ImportError as error:
            print(error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gdjax.plot needs matplotlib: pip install 'gdjax[plot]'"
