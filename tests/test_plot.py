"""gdjax.plot: every function writes a real, non-blank image; matplotlib is imported lazily."""

import subprocess
import sys
import textwrap
from pathlib import Path

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
    assert_image(plot.save(ax, tmp_path / "two_gaussians.png"))


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
    assert legend_labels(ax) == ["GD", "momentum"]
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
    assert star.get_ydata()[0] == pytest.approx(best["momentum"], rel=1e-6)
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
