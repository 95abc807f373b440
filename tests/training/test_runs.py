"""The grid of runs of fit_many: each run's optimizer built before the program, or in it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gdjax
from gdjax.training.runs import grid


def init(key):
    return {"w": jax.random.normal(key, (3,))}


def test_gdjax_optimizers_are_built_before_the_program_as_stacked_data():
    settings = {"learning_rate": [0.1, 0.2]}
    runs, per_run = grid(init, lambda learning_rate: gdjax.sgd(learning_rate), 3, settings)
    assert per_run.built and set(runs.hyper) == {"optimizer", "run"}
    (rates,) = runs.hyper["optimizer"]
    np.testing.assert_array_equal(rates, np.float32([[0.1] * 3, [0.2] * 3]))
    np.testing.assert_array_equal(runs.hyper["run"], np.arange(6).reshape(2, 3))
    # Another function building the same kind: the same programs.
    _, again = grid(init, lambda learning_rate: gdjax.sgd(learning_rate), 3, settings)
    assert again == per_run and hash(again) == hash(per_run)
    _, other = grid(init, lambda learning_rate: gdjax.sgd(learning_rate, 0.9), 3, settings)
    assert other != per_run


def test_one_setting_is_broadcast_to_every_seed():
    runs, per_run = grid(init, lambda: gdjax.adam(1e-3), 2, None)
    assert per_run.built
    for leaf in runs.hyper["optimizer"]:
        assert jnp.shape(leaf) == (1, 2)


def test_closures_made_per_call_are_built_inside_the_program():
    settings = {"learning_rate": [0.1, 0.2]}
    runs, per_run = grid(init, lambda learning_rate: optax.sgd(learning_rate), 2, settings)
    assert not per_run.built and set(runs.hyper) == {"settings", "run"}
    state = per_run({k: jax.tree.map(lambda x: x[1, 0], v) for k, v in runs.hyper.items()}).init(
        {"w": jnp.zeros(3)}
    )
    assert jax.tree.leaves(state) == []
