"""The measures, the pairwise statistics, the Markdown report and the JSON, by hand."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as scipy_stats

from gdjax.benchmark import protocol, report
from gdjax.benchmark.problem import Problem
from gdjax.benchmark.report import Cell, Results
from gdjax.training import stats


def _cell(optimizer: str, test_loss, validation=(1.0, 2.0), curves=None, metric=None) -> Cell:
    test_loss = np.asarray(test_loss, np.float64)
    curves = np.stack([[1.0, x] for x in test_loss]) if curves is None else curves
    return Cell(
        optimizer=optimizer,
        problem="p",
        names=("learning_rate",),
        settings=np.array([[0.1], [1.0]]),
        validation=np.asarray(validation, np.float64),
        best=int(np.argmin(validation)),
        test_loss=test_loss,
        test_metric=None if metric is None else np.asarray(metric, np.float64),
        curves=np.asarray(curves, np.float64),
        paths=None,
        distance=None,
        tuning_seconds=1.0,
        rerun_seconds=0.5,
    )


def test_holm_against_hand_computation():
    # Sorted: 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04;
    # the running maximum makes the last 0.06; back in the order given:
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.6, 0.2]), [0.6, 0.4])
    np.testing.assert_allclose(stats.holm([0.7, 0.9]), [1.0, 1.0])  # capped at 1
    assert stats.holm([]).shape == (0,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.1, float("nan")])


def test_measures_against_hand_computation():
    curves = np.array(
        [[1.0, 0.5, 0.2, 0.05, 0.01], [1.0, 0.9, 0.8, 0.7, 0.6], [1, 0.4, 0.1, 0.1, 0]]
    )
    cell = _cell("a", curves[:, -1], validation=[0.105, 0.1, 0.5, np.inf], curves=curves)
    cell = cell._replace(settings=np.array([[1e-3], [1e-2], [1e-1], [1.0]]))
    m = report.measures(cell, target=0.1, margin=0.1)
    x = np.array([0.01, 0.6, 0.0])
    assert m.mean == pytest.approx(x.mean())
    assert m.se == pytest.approx(np.sqrt(np.sum((x - x.mean()) ** 2) / 2) / np.sqrt(3))
    np.testing.assert_array_equal(m.reached, [3, -1, 2])  # first loss ≤ 0.1
    assert m.speed == 2.5 and m.never == 1
    # Best 0.1: within 10% is ≤ 0.11, so 0.105 and 0.1 count; 0.5 and inf do not.
    assert m.tunability == 0.5
    assert report.tunability([0.1, 0.5, np.inf], target=0.6, margin=0.0) == pytest.approx(2 / 3)
    assert report.tunability([np.inf, np.nan], 1.0, 0.1) == 0.0
    # A data problem's curves start after epoch 1.
    np.testing.assert_array_equal(report.first_reached(curves, 0.1, first_step=1), [4, -1, 3])


def test_diverged_reruns_are_counted_not_averaged():
    m = report.measures(_cell("a", [0.2, np.inf, 0.4]), target=0.0, margin=0.1)
    assert m.mean == pytest.approx(0.3) and m.diverged == 1


def test_pairwise_against_scipy_and_hand_holm():
    a, b, c = [0.1, 0.2, 0.15, 0.12], [0.3, 0.25, 0.4, 0.35], [0.11, 0.21, 0.5, 0.13]
    pw = report.pairwise([_cell("a", a), _cell("b", b), _cell("c", c)])
    assert pw.pairs == (("a", "b"), ("a", "c"), ("b", "c"))
    p = []
    for i, (x, y) in enumerate(((a, b), (a, c), (b, c))):
        expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided")
        assert pw.u[i] == expected.statistic
        p.append(expected.pvalue)
        assert pw.d[i] == pytest.approx(stats.cohens_d(x, y))
    np.testing.assert_allclose(pw.p, p)
    order = np.argsort(p)
    hand = np.empty(3)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[i]))
        hand[i] = running
    np.testing.assert_allclose(pw.p_holm, hand)


def test_pairwise_with_a_diverged_run_ranks_it_worst_and_has_no_d():
    pw = report.pairwise([_cell("a", [0.1, 0.2, 0.3]), _cell("b", [0.4, np.inf, np.nan])])
    expected = scipy_stats.mannwhitneyu([0.1, 0.2, 0.3], [0.4, np.inf, np.inf])
    assert pw.u[0] == expected.statistic and pw.p[0] == pytest.approx(expected.pvalue)
    assert math.isnan(pw.d[0])


def test_seeds_that_end_alike_are_not_tested():
    # A problem whose start the seed does not move: every rerun ends alike, and a
    # rank test of two constant samples would report a p of its own making.
    pw = report.pairwise(
        [_cell("a", [0.5, 0.5, 0.5]), _cell("b", [0.2, 0.2, 0.2]), _cell("c", [0.1, 0.3, 0.2])]
    )
    assert pw.pairs == (("a", "b"), ("a", "c"), ("b", "c"))
    assert np.isnan([pw.u[0], pw.p[0], pw.p_holm[0], pw.d[0]]).all()
    tested = [scipy_stats.mannwhitneyu(x, [0.1, 0.3, 0.2]).pvalue for x in ([0.5] * 3, [0.2] * 3)]
    np.testing.assert_allclose(pw.p[1:], tested)
    np.testing.assert_allclose(pw.p_holm[1:], stats.holm(tested))  # two pairs, not three


def _square(x):
    return 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * x**2)


@pytest.fixture(scope="module")
def results() -> Results:
    problem = Problem(
        "bowl",
        lambda key: jnp.array([1.0, 1.0]),
        _square,
        1e-3,
        20,
        minimum=(np.zeros(2), 0.0),
        box=((-1.5, 1.5), (-1.5, 1.5)),
    )
    optimizers = ["sgd", "momentum", protocol.Tuned("adam", space={"learning_rate": (1e-3, 1.0)})]
    return protocol.benchmark(optimizers, [problem], protocol.Budget(6), seeds=3, progress=False)


def _rows(text: str, first: str) -> dict[str, list[str]]:
    """The Markdown table rows whose first cell is one of the labels, as lists of cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] != first and not cells[0].startswith("---"):
            rows.setdefault(cells[0], []).append(cells)
    return rows


def test_report_numbers_equal_the_arrays(results):
    text = results.report()
    rows = _rows(text, "optimizer")
    for label in results.optimizers:
        cell, m = results.cell(label, "bowl"), results.measures(label, "bowl")
        row = rows[label][0]
        assert row[1] == f"learning_rate={report.number(cell.settings[cell.best, 0])}"
        assert row[2] == f"{report.number(m.mean)} ± {report.number(m.se)}"
        assert row[4] == report.number(float(np.mean(cell.distance)))
        assert row[5] == report.number(m.speed)
        assert row[6] == f"{m.never} of 3"
        assert row[7] == f"{m.tunability:.0%}"
        assert m.mean == pytest.approx(np.mean(cell.test_loss))
    pw = results.pairwise("bowl")
    pair_rows = {(r[0], r[1]): r for rs in _rows(text, "a").values() for r in rs if len(r) == 6}
    for (a, b), u, p, q in zip(pw.pairs, pw.u, pw.p, pw.p_holm, strict=True):
        assert pair_rows[(a, b)][2:5] == [report.number(u), report.number(p), report.number(q)]


def test_json_round_trips(results):
    data = json.loads(json.dumps(results.to_json(), allow_nan=False))
    again = Results.from_json(data)
    assert again.to_json() == results.to_json()
    assert again.report() == results.report()
    for old, new in zip(results.cells, again.cells, strict=True):
        np.testing.assert_array_equal(old.validation, new.validation)  # inf included
        np.testing.assert_array_equal(old.paths, new.paths)
    assert data["cells"][0]["measures"]["never"] == results.measures("sgd", "bowl").never


def test_figures_draw(results, tmp_path):
    pytest.importorskip("matplotlib")
    from gdjax.plot import benchmark as figures
    from gdjax.plot import save

    for name, fig in (
        ("sensitivity", figures.sensitivity_figure(results)),
        ("curves", figures.curves_figure(results)),
        ("paths", figures.trajectories_figure(results, "bowl", _square, ((-1.5, 1.5),) * 2)),
    ):
        assert save(fig, tmp_path / f"{name}.png").stat().st_size > 10_000


def test_panel_figures_share_one_frame(results):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gdjax.plot import benchmark as figures

    for figure, extra in ((figures.sensitivity_figure, []), (figures.curves_figure, ["target"])):
        fig = figure(results, ["bowl"])
        (ax,) = [a for a in fig.axes if a.get_visible()]
        assert ax.get_title().startswith("bowl")
        assert ax.get_yscale() == "log"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == [*results.optimizers, *extra]
        assert "3 seeds" in fig.get_suptitle()
        plt.close(fig)


def test_a_gap_of_zero_is_drawn_not_dropped(results):
    # A run that meets f* exactly has a gap of 0, which a log axis drops: the curve
    # would seem to stop, and a best setting of gap 0 would be missing.
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gdjax.plot import benchmark as figures

    first = results.cells[0]
    curves = np.array(first.curves, np.float64)
    curves[:, -3:] = 0.0
    validation = np.array(first.validation, np.float64)
    validation[first.best] = 0.0
    met = first._replace(curves=curves, validation=validation, test_loss=curves[:, -1])
    zeroed = results._replace(cells=[met, *results.cells[1:]])
    for figure, drawn in ((figures.curves_figure, curves[0]), (figures.sensitivity_figure, [0.0])):
        fig = figure(zeroed, ["bowl"])
        ax = fig.axes[0]
        assert ax.get_yscale() == "symlog" and ax.get_ylim()[0] == 0.0
        assert any(np.isin(drawn, line.get_ydata()).all() for line in ax.get_lines())
        assert len(ax.get_yticks()) <= 10  # not one label per decade
        plt.close(fig)
    fig = figures.curves_figure(results, ["bowl"])
    assert fig.axes[0].get_yscale() == "log"  # no zero: log as before
    plt.close(fig)


@pytest.mark.parametrize("problems", [["nope"], ["bowl", "nope"]])
def test_panel_figures_name_an_unknown_problem(results, problems):
    pytest.importorskip("matplotlib")
    from gdjax.plot import benchmark as figures

    for figure in (figures.sensitivity_figure, figures.curves_figure):
        with pytest.raises(ValueError, match=r"problems: \['nope'\].*\['bowl'\]"):
            figure(results, problems)
        with pytest.raises(TypeError, match="problems: .*not a str"):
            figure(results, "bowl")
