"""The grid of runs of fit_many: each run's optimizer built before the program, or in it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.training import models, runs
from gdjax.training.runs import grid
from tests.helpers import COMPILES


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


@pytest.mark.parametrize("init", [lambda k: models.mlp_init(k, (8, 6, 3)), models.cnn_init])
def test_initial_params_run_by_run_are_the_vmapped_draws_bitwise(init):
    # Up to runs.ONE_BY_ONE runs, one compiled init is called per run (it compiles
    # several times faster than a vmapped one); beyond, the vmapped program runs.
    # Both must give every run what one jitted vmap over the seeds' keys gives.
    keys = jax.random.split(jax.random.key(3), 2 * (runs.ONE_BY_ONE + 1))
    expected = jax.jit(jax.vmap(init))(jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys))
    few = runs.initial_params(init, keys[:6].reshape(2, 3))
    many = runs.initial_params(init, keys.reshape(2, -1))
    for got, count in ((few, 6), (many, len(keys))):
        flat = jax.tree.map(lambda x, n=count: x.reshape(n, *x.shape[2:]), got)
        for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(a, b[:count])


def scaled_mlp(scale, key):
    return models.mlp_init(key, (8, 6, 3), scale)


@pytest.mark.parametrize("count", [6, 2 * (runs.ONE_BY_ONE + 1)])
def test_an_init_partial_of_numbers_compiles_once_for_every_value(count):
    # A `jax.tree_util.Partial`'s numbers are its program's arguments: inits that differ
    # only in an init scale share one program (a closure per scale compiled its draws
    # again), and give the bits that a closure over each scale gives.
    keys = jax.random.split(jax.random.key(5), count).reshape(2, -1)
    runs.initial_params(jax.tree_util.Partial(scaled_mlp, 0.5), keys)  # compiled here
    before = COMPILES.count
    for scale in (0.1, 2.0, 4.0):
        got = runs.initial_params(jax.tree_util.Partial(scaled_mlp, scale), keys)
        expected = runs.initial_params(lambda k, s=scale: scaled_mlp(s, k), keys)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(a, b)
    assert COMPILES.count - before == 3  # the three closures', none for the partials


def sized_mlp(sizes, key):
    return models.mlp_init(key, sizes)


def test_an_init_partial_of_integers_keeps_them_constants():
    # Layer sizes make shapes: a Partial over integers is closed over, not traced.
    keys = jax.random.split(jax.random.key(5), 6).reshape(2, 3)
    got = runs.initial_params(jax.tree_util.Partial(sized_mlp, (8, 6, 3)), keys)
    assert [layer["w"].shape for layer in got] == [(2, 3, 8, 6), (2, 3, 6, 3)]


def test_every_run_gets_the_keys_the_scheme_names():
    seeds = [7, 3, 11]

    def make(learning_rate, key):  # an optax closure: built in the program, from hyper
        del key
        return optax.sgd(learning_rate)

    built, per_run = grid(init, make, seeds, {"learning_rate": [0.1, 0.2]})
    assert not per_run.built
    data, fold_in = jax.random.key_data, jax.random.fold_in
    for setting in range(2):
        for column, seed in enumerate(seeds):
            run = setting * len(seeds) + column  # C order over (settings, seeds)
            key = jax.random.key(seed)
            assert built.hyper["run"][setting, column] == run
            params = built.params["w"][setting, column]
            np.testing.assert_array_equal(params, init(fold_in(key, 0))["w"])
            np.testing.assert_array_equal(data(built.keys[setting, column]), data(fold_in(key, 1)))
            np.testing.assert_array_equal(
                data(built.hyper["key"][setting, column]), data(fold_in(fold_in(key, 2), run))
            )


def test_a_grid_of_a_new_shape_compiles_a_few_small_programs(caplog):
    # The grid's keys, settings and stacked params were eager ops, each compiled on its
    # own for every new grid shape (23 programs here; about 0.5 s for the digits MLP);
    # now the keys and the stacking are two programs, cached by shape, the settings
    # stay in NumPy, and one small op of the optimizer's build is left (3 in all).
    def mlp(key):  # an init of its own: its program is compiled in the first grid
        return models.mlp_init(key, (5, 4, 2))

    grid(mlp, gdjax.sgd, [0, 1], {"learning_rate": [0.1, 0.2, 0.3]})
    with jax.log_compiles(), caplog.at_level("WARNING"):
        grid(mlp, gdjax.sgd, [0, 1, 2, 3, 4], {"learning_rate": [0.1] * 7})
    compiled = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling")]
    assert len(compiled) <= 4, compiled
