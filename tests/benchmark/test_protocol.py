"""The protocol's settings, runs and selection, against hand computations on tiny problems."""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.benchmark import problems, protocol
from gdjax.benchmark.problem import Datasets, Problem
from gdjax.benchmark.protocol import Budget, Tuned

STEPS = 10


def _start(key: jax.Array) -> jax.Array:
    # Each seed its own start, so the reruns differ and their SE is not 0.
    return 1.0 + jax.random.uniform(key, (1,))


def _half_square(x: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum(x**2)


# f(x) = x²/2 from x0: SGD with rate η gives x_t = (1 − η)^t x0, f = (1 − η)^2t x0² / 2.
SQUARE = Problem(
    "square", _start, _half_square, target=1e-6, steps=STEPS, minimum=(np.zeros(1), 0.0)
)


def _hand_gap(rate: float, x0: float, steps: int = STEPS) -> float:
    return 0.5 * (1 - rate) ** (2 * steps) * x0**2


def _starts(seeds: int) -> np.ndarray:
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
    return np.asarray(jax.vmap(_start)(keys))[:, 0].astype(np.float64)


def test_grid_is_deepobs_log_grid():
    values = protocol.settings(protocol.LEARNING_RATES, Budget())
    np.testing.assert_allclose(values["learning_rate"], np.logspace(-5, 2, 36), rtol=1e-12)


def test_grid_of_two_is_a_product():
    space = {"learning_rate": (1e-3, 1e-1), "b1": (0.5, 0.9)}
    values = protocol.settings(space, Budget(points=10))  # floor(sqrt(10)) = 3 per axis
    assert len(values["learning_rate"]) == 9
    np.testing.assert_allclose(np.unique(values["learning_rate"]), [1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(np.unique(values["b1"]), np.geomspace(0.5, 0.9, 3))


def test_sobol_points_are_log_uniform_in_range():
    space = {"learning_rate": (1e-4, 1.0), "decay": (0.5, 0.999)}
    values = protocol.settings(space, Budget(points=16, search="sobol", seed=3))
    rates, decays = values["learning_rate"], values["decay"]
    assert rates.shape == decays.shape == (16,)
    assert ((1e-4 <= rates) & (rates <= 1.0)).all() and ((0.5 <= decays) & (decays <= 0.999)).all()
    # A scrambled Sobol set of 16 puts one point in each sixteenth of each axis (log scale).
    bins = np.floor((np.log10(rates) + 4) / 4 * 16).astype(int)
    assert sorted(bins) == list(range(16))
    again = protocol.settings(space, Budget(points=16, search="sobol", seed=3))
    np.testing.assert_array_equal(again["decay"], decays)


def test_function_cell_against_hand_computation():
    # The 3-point log grid from 0.5 to 1.5: 0.5, sqrt(0.75), 1.5; the middle is best.
    optimizer = Tuned("sgd", space={"learning_rate": (0.5, 1.5)})
    cell = protocol.cell(optimizer, SQUARE, Budget(points=3), seeds=4)
    rates = np.array([0.5, math.sqrt(0.75), 1.5])
    np.testing.assert_allclose(cell.settings[:, 0], rates, rtol=1e-12)
    x0 = _starts(4)
    hand = [_hand_gap(r, x0[0]) for r in rates]  # tuning runs from seed 0
    np.testing.assert_allclose(cell.validation, hand, rtol=1e-4)
    assert cell.best == 1
    np.testing.assert_allclose(cell.test_loss, [_hand_gap(rates[1], x) for x in x0], rtol=1e-4)
    t = np.arange(STEPS + 1)
    np.testing.assert_allclose(
        cell.curves, 0.5 * (1 - rates[1]) ** (2 * t) * x0[:, None] ** 2, rtol=1e-4, atol=1e-30
    )
    assert cell.paths is None  # not a 2-D problem
    assert cell.first_step == 0


def test_a_diverged_setting_is_inf_and_never_best():
    optimizer = Tuned("sgd", space={"learning_rate": (0.1, 1e4)})
    cell = protocol.cell(optimizer, SQUARE, Budget(points=2), seeds=2)
    # Rate 1e4: (1 − 1e4)^20 overflows float32.
    assert cell.validation[1] == np.inf
    assert cell.best == 0
    assert protocol.best_index(np.array([np.inf, np.nan, np.inf])) == -1
    assert protocol.best_index(np.array([3.0, np.inf, 1.0, 1.0])) == 2


def test_two_dimensional_reruns_keep_their_paths():
    box = ((-2.0, 2.0), (-2.0, 2.0))
    plane = Problem(
        "plane",
        lambda key: jnp.array([1.0, -1.0]),
        _half_square,
        1e-3,
        5,
        box=box,
        minimum=(np.zeros(2), 0.0),
    )
    cell = protocol.cell(Tuned("sgd", space={"learning_rate": (0.1, 0.5)}), plane, Budget(2), 2)
    assert cell.best == 1
    np.testing.assert_allclose(cell.paths[:, :, 0], [0.5 ** np.arange(6)] * 2, rtol=1e-6)
    np.testing.assert_allclose(cell.distance, [math.sqrt(2) * 0.5**5] * 2, rtol=1e-5)


def test_every_run_keeps_its_setting_and_its_seeds_start():
    # SGD on x²/2 from seed s's start x0: x_t = (1 − η)^t x0, so every point of the
    # (settings, seeds, steps + 1, D) array names its rate and its start.
    plane = Problem("plane", lambda key: 1.0 + jax.random.uniform(key, (2,)), _half_square, 0, 4)
    build = protocol.Build(gdjax.sgd, ())
    rates = np.array([0.1, 0.3, 0.6])
    runs = protocol.run_function(plane, build, {"learning_rate": rates}, [5, 7], True)
    x0 = np.asarray(jax.vmap(plane.init)(jax.vmap(jax.random.key)(jnp.array([5, 7]))))
    decay = (1 - rates)[:, None, None, None] ** np.arange(5)[None, None, :, None]
    hand = decay * x0[None, :, None, :]
    np.testing.assert_allclose(runs.points, hand, rtol=1e-5)
    np.testing.assert_allclose(runs.last, hand[:, :, -1], rtol=1e-5)
    np.testing.assert_allclose(runs.curve, 0.5 * np.sum(hand**2, axis=-1), rtol=1e-5)


def test_a_lone_run_has_the_bits_it_has_in_a_batch():
    # XLA compiles a batch of one otherwise: on the quadratic its rounding differed.
    quadratic = problems.quadratic()._replace(steps=50)
    build = protocol.Build(gdjax.adam, ())
    rates = np.array([0.01, 0.03, 0.1], np.float32)
    batch = protocol.run_function(quadratic, build, {"learning_rate": rates}, [0, 1], True)
    for i, seed in [(0, 0), (2, 1)]:
        alone = protocol.run_function(quadratic, build, {"learning_rate": rates[i : i + 1]}, [seed])
        np.testing.assert_array_equal(alone.curve[0, 0], batch.curve[i, seed])
        np.testing.assert_array_equal(alone.last[0, 0], batch.last[i, seed])


# 1-D linear regression, full batch: w ← w − η · 2 mean(x (x w − y)), from w = 0.
_X = np.array([1.0, 2.0, -1.0, 0.5], np.float32)
_Y = 2.0 * _X + np.array([0.1, -0.1, 0.05, 0.0], np.float32)
_SPLIT = Datasets({"x": _X, "y": _Y}, {"x": _X[:2], "y": _Y[:2]}, {"x": _X[2:], "y": _Y[2:]})


def _line_loss(params: dict, batch: dict) -> jax.Array:
    return (batch["x"] * params["w"] - batch["y"]) ** 2


LINE = Problem("line", lambda key: {"w": jnp.zeros(())}, _line_loss, 1e-2, 3, data=_SPLIT)


def _hand_weights(rate: float, epochs: int = 3) -> list[float]:
    x, y, w, out = _X.astype(np.float64), _Y.astype(np.float64), 0.0, []
    for _ in range(epochs):
        w -= rate * 2 * np.mean(x * (x * w - y))
        out.append(w)
    return out


def _hand_loss(w: float, part: dict) -> float:
    return float(np.mean((part["x"].astype(np.float64) * w - part["y"]) ** 2))


def test_data_cell_against_hand_computation():
    optimizer = Tuned(gdjax.sgd, space={"learning_rate": (0.01, 0.3)}, name="plain")
    cell = protocol.cell(optimizer, LINE, Budget(points=2), seeds=2)
    assert cell.optimizer == "plain" and cell.first_step == 1
    hand = [_hand_loss(_hand_weights(r)[-1], _SPLIT.validation) for r in (0.01, 0.3)]
    np.testing.assert_allclose(cell.validation, hand, rtol=1e-4)
    assert cell.best == int(np.argmin(hand)) == 1
    curve = [_hand_loss(w, _SPLIT.test) for w in _hand_weights(0.3)]
    np.testing.assert_allclose(cell.curves, [curve, curve], rtol=1e-4)
    np.testing.assert_allclose(cell.test_loss, [curve[-1]] * 2, rtol=1e-4)


def test_names_fixed_and_factories(monkeypatch):
    assert protocol.tuned("momentum").fixed == {"momentum": 0.9}
    assert protocol.factory(Tuned("adam")) is gdjax.adam  # gdjax first
    optax = pytest.importorskip("optax")
    monkeypatch.delattr(gdjax, "adafactor")  # a name only optax has: optax's
    assert protocol.factory(Tuned("adafactor")) is optax.adafactor
    assert [t.label for t in protocol.DEFAULT_OPTIMIZERS][-3:] == ["adamw", "lion", "sf_adamw"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: protocol.tuned("no_such_optimizer"), "unknown optimizer 'no_such_optimizer'"),
        (
            lambda: protocol.tuned(Tuned("sgd", space={"learning_rate": (1.0, 1.0)})),
            "0 < low < high",
        ),
        (
            lambda: protocol.tuned(Tuned("sgd", space={"learning_rate": (0.0, 1.0)})),
            "0 < low < high",
        ),
        (lambda: protocol.tuned(Tuned("sgd", space={"b9": (0.1, 0.5)})), "no hyperparameter 'b9'"),
        (lambda: protocol.settings(protocol.LEARNING_RATES, Budget(0)), "budget.points"),
        (lambda: protocol.settings(protocol.LEARNING_RATES, Budget(4, "random")), "grid, sobol"),
        (lambda: protocol.benchmark(["sgd"], [SQUARE], Budget(2), seeds=1), "seeds"),
        (lambda: protocol.benchmark(["sgd", "sgd"], [SQUARE], Budget(2)), "own name"),
        (lambda: protocol.benchmark([], [SQUARE], Budget(2)), "at least one"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("shown", ["tqdm", "lines", "none"])
def test_the_progress_bar_names_each_run(shown, capsys, monkeypatch):
    # The bar alone: each (optimizer, problem) pair's cell is a stand-in, not a run.
    monkeypatch.setattr(protocol, "cell", lambda optimizer, problem, *_: optimizer.label)
    if shown == "tqdm":
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # an import would raise
    results = protocol.benchmark(["sgd", "adam"], [SQUARE], Budget(2), progress=shown != "none")
    assert results.cells == ("sgd", "adam")
    err = capsys.readouterr().err
    if shown == "tqdm":
        assert "benchmark" in err and "2/2" in err and "adam on square" in err
    elif shown == "lines":
        assert err == "benchmark: run 1/2, sgd on square\nbenchmark: run 2/2, adam on square\n"
    else:
        assert "benchmark" not in err
