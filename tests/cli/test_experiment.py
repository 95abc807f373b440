"""``gdjax experiment``: its figure path is checked before training, its report is
printed before the figure is drawn, and --no-plot needs no matplotlib.

Most tests train nothing: `gdjax.experiments` is replaced by a recorder
(tests/cli/conftest.py); the last one runs the real grid experiment, small.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID = ("experiment", "grid", "--learning-rates", "0.1,1", "--momenta", "0", "--no-progress")


def test_arguments_reach_the_experiment_without_out(fake_experiments, gdjax_cli, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "g.png"
    outcome = gdjax_cli(*GRID, "--steps", "20", "--seed", "3", "--out", str(out))
    assert outcome.code == 0, outcome.err
    ((name, kwargs),) = fake_experiments.calls
    assert name == "grid"
    assert set(kwargs) == {"learning_rates", "momenta", "steps", "seed", "progress"}
    np.testing.assert_allclose(kwargs["learning_rates"], [0.1, 1.0])
    assert (kwargs["steps"], kwargs["seed"], kwargs["progress"]) == (20, 3, False)
    # The report first, then the figure.
    assert outcome.out.splitlines() == ["the grid report", f"wrote {out}"]
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_the_default_figure_is_experiment_grid_png(
    fake_experiments, gdjax_cli, monkeypatch, tmp_path
):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    outcome = gdjax_cli(*GRID)
    assert outcome.code == 0, outcome.err
    assert (tmp_path / "experiment_grid.png").read_bytes()[:8] == PNG_MAGIC


def test_sweep_is_now_grid(fake_experiments, gdjax_cli):
    outcome = gdjax_cli("experiment", "sweep")
    assert (
        outcome.code == 2 and "invalid choice: 'sweep'" in outcome.line and "grid" in outcome.line
    )


@pytest.mark.parametrize("where", ["missing", "under a file", "unwritable"])
def test_an_unwritable_figure_is_refused_before_training(
    where, fake_experiments, gdjax_cli, tmp_path, monkeypatch
):
    (tmp_path / "file").write_text("")
    out = {
        "missing": tmp_path / "no" / "such" / "x.png",
        "under a file": tmp_path / "file" / "x.png",
        "unwritable": tmp_path / "x.png",
    }[where]
    if where == "unwritable":
        from gdjax.cli import outputs

        monkeypatch.setattr(outputs.os, "access", lambda path, mode: False)
    outcome = gdjax_cli(*GRID, "--out", str(out))
    assert outcome.code == 2
    assert "--out" in outcome.line and "cannot write the figure" in outcome.line
    assert fake_experiments.calls == []  # was: trained to the end, then a 36-line traceback
    assert not (tmp_path / "no").exists()


def test_the_report_survives_a_figure_that_fails(fake_experiments, gdjax_cli, tmp_path):
    pytest.importorskip("matplotlib")
    fake_experiments.figure_error = OSError(28, "No space left on device")
    outcome = gdjax_cli(*GRID, "--out", str(tmp_path / "x.png"))
    assert outcome.code == 2
    assert outcome.out.splitlines() == ["the grid report"]
    assert "cannot write the figure" in outcome.line


def test_no_plot_never_imports_matplotlib(fake_experiments, gdjax_cli, no_matplotlib, tmp_path):
    outcome = gdjax_cli(*GRID, "--no-plot", "--out", str(tmp_path / "ignored" / "x.png"))
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines() == ["the grid report"]
    assert sys.modules["matplotlib"] is None


def test_a_missing_matplotlib_is_said_before_training(fake_experiments, gdjax_cli, no_matplotlib):
    outcome = gdjax_cli(*GRID)
    assert outcome.code == 2
    assert "needs matplotlib" in outcome.line and "(or pass --no-plot)" in outcome.line
    assert fake_experiments.calls == []


def test_another_missing_package_gets_no_no_plot_hint(fake_experiments, gdjax_cli):
    fake_experiments.error = ImportError(
        "gdjax.training.datasets.digits needs scikit-learn: pip install 'gdjax[train]'"
    )
    outcome = gdjax_cli(*GRID, "--no-plot")
    assert outcome.code == 2
    assert "needs scikit-learn" in outcome.line and "--no-plot" not in outcome.line


def test_a_package_the_experiments_import_is_named(fake_experiments, gdjax_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdjax.experiments", None)  # a module not found
    monkeypatch.delattr("gdjax.experiments")
    outcome = gdjax_cli(*GRID, "--no-plot")
    assert outcome.code == 2 and "gdjax experiment needs gdjax.experiments" in outcome.line


def test_bad_values_are_one_line(fake_experiments, gdjax_cli):
    fake_experiments.error = ValueError("grid: steps must be an integer >= 1,\n got 0")
    outcome = gdjax_cli(*GRID, "--no-plot", "--steps", "0")
    assert (
        outcome.code == 2
        and outcome.line == "gdjax: error: grid: steps must be an integer >= 1, got 0"
    )


def test_the_real_grid_experiment_end_to_end(gdjax_cli, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    out = tmp_path / "grid.png"
    outcome = gdjax_cli(*GRID, "--steps", "20", "--out", str(out))
    assert outcome.code == 0, outcome.err
    assert "best" in outcome.out
    assert outcome.out.rstrip().endswith(f"wrote {out}")
    assert out.read_bytes()[:8] == PNG_MAGIC
