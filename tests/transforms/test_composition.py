import collections
import inspect
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.base import EMPTY_INIT
from gdjax.bound import bind
from gdjax.transforms.composition import (
    InjectStatefulHyperparamsState,
    StatefulSchedule,
    WrappedSchedule,
    WrappedScheduleState,
    flatten,
    inject_stateful_hyperparams,
    named_chain,
)
from tests.helpers import assert_moved, assert_trees_close, loss, nested_params, run


def _signature(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def _zero_loss(p):
    return 0.0 * loss(p)


def test_signatures_and_states_match_optax():
    for ours, theirs in (
        (named_chain, optax.named_chain),
        (flatten, optax.flatten),
        (inject_stateful_hyperparams, optax.inject_stateful_hyperparams),
    ):
        assert _signature(ours) == _signature(theirs)
    assert InjectStatefulHyperparamsState._fields == optax.InjectStatefulHyperparamsState._fields
    assert WrappedScheduleState._fields == optax.schedules._inject.WrappedScheduleState._fields
    assert isinstance(WrappedSchedule(lambda c: c), optax.schedules.StatefulSchedule)


# --------------------------------------------------------------------------- named_chain


def test_named_chain_matches_optax_and_keys_its_state_by_name():
    params = nested_params()
    got, state = run(
        named_chain(("clip", gdjax.clip_by_global_norm(1.0)), ("adam", gdjax.adam(0.01))), params
    )
    want, wstate = run(
        optax.named_chain(("clip", optax.clip_by_global_norm(1.0)), ("adam", optax.adam(0.01))),
        params,
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert isinstance(state, collections.OrderedDict)
    assert tuple(state) == tuple(wstate) == ("clip", "adam")
    assert state["adam"][0]._fields == wstate["adam"][0]._fields
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(wstate))


def _scale_by_value(updates, state, params=None, *, value):
    del params
    return jax.tree.map(lambda u: u * jnp.minimum(value, 10.0) / 10.0, updates), state


def test_named_chain_keeps_the_order_given_and_passes_extra_arguments():
    params = nested_params()
    by_value = gdjax.GradientTransformation(EMPTY_INIT, bind(_scale_by_value))
    tx = named_chain(("z_sgd", gdjax.sgd(0.01, 0.9)), ("a_by_value", by_value))
    got, state = run(tx, params, 300, pass_value=True)
    want, wstate = run(
        optax.named_chain(
            ("z_sgd", optax.sgd(0.01, 0.9)),
            ("a_by_value", optax.GradientTransformationExtraArgs(EMPTY_INIT, _scale_by_value)),
        ),
        params,
        300,
        pass_value=True,
    )
    assert tuple(state) == tuple(wstate) == ("z_sgd", "a_by_value")
    assert_moved(params, got)
    assert_trees_close(got, want)
    plain, _ = run(gdjax.sgd(0.01, 0.9), params)
    assert not np.allclose(got["scale"], plain["scale"])  # the value did reach it


def test_named_chain_validation():
    with pytest.raises(ValueError, match=r"^named_chain: .*distinct.*'a', 'a'"):
        named_chain(("a", gdjax.sgd(0.1)), ("a", gdjax.adam(0.1)))
    with pytest.raises(ValueError, match=r"^named_chain: .*pair"):
        named_chain(gdjax.sgd(0.1))


def test_named_chain_bfloat16_zero_gradients_and_vmap():
    params = nested_params(jnp.bfloat16)
    tx = named_chain(("adam", gdjax.adam(0.01)))
    u, state = jax.jit(tx.update)(params, tx.init(params), params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state["adam"][0].mu))
    got, _ = run(tx, nested_params(), 10, _zero_loss)
    assert_trees_close(got, nested_params(), rtol=0, atol=0)

    def final(lr):
        return run(named_chain(("sgd", gdjax.sgd(lr, 0.9))), nested_params(), 30)[0]

    batched = jax.jit(jax.vmap(final))(jnp.array([0.01, 0.03]))
    for i, lr in enumerate((0.01, 0.03)):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(lr))


# --------------------------------------------------------------------------- flatten


def test_flatten_matches_optax_and_keeps_vector_state():
    params = nested_params()
    got, state = run(flatten(gdjax.adam(0.01)), params)
    want, wstate = run(optax.flatten(optax.adam(0.01)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    size = sum(np.size(x) for x in jax.tree.leaves(params))
    assert state[0].mu.shape == (size,)
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(wstate))
    # The same optimizer on the unflattened tree gives the same steps.
    plain, _ = run(gdjax.adam(0.01), params)
    assert_trees_close(got, plain)


def test_flatten_bfloat16_zero_gradients_and_vmap():
    params = nested_params(jnp.bfloat16)
    tx = flatten(gdjax.sgd(0.1, 0.9))
    u, state = jax.jit(tx.update)(params, tx.init(params), params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert jax.tree.leaves(state)[0].dtype == jnp.bfloat16
    got, _ = run(flatten(gdjax.adam(0.1)), nested_params(), 10, _zero_loss)
    assert_trees_close(got, nested_params(), rtol=0, atol=0)

    def final(lr):
        return run(flatten(gdjax.sgd(lr, 0.9)), nested_params(), 30)[0]

    batched = jax.jit(jax.vmap(final))(jnp.array([0.01, 0.03]))
    for i, lr in enumerate((0.01, 0.03)):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(lr))


# --------------------------------------------------------------------------- inject_stateful


def _optax_inject(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # optax 0.2.8 deprecates the name
        return optax.inject_stateful_hyperparams(*args, **kwargs)


class _HalvingState(NamedTuple):
    rate: jax.Array
    best: jax.Array


class HalveWhenWorse:
    """A stateful schedule: the rate halves each time the loss exceeds the best so far."""

    def __init__(self, rate):
        self.rate = rate

    def init(self):
        return _HalvingState(jnp.float32(self.rate), jnp.float32(jnp.inf))

    def update(self, state, value=None, **extra):
        worse = value > state.best
        return _HalvingState(
            jnp.where(worse, state.rate / 2, state.rate), jnp.minimum(value, state.best)
        )

    def __call__(self, state, **extra):
        return state.rate


def test_inject_stateful_matches_optax_with_a_schedule_of_the_count():
    params = nested_params()
    schedule = gdjax.schedules.exponential_decay(0.05, 50, 0.5)
    got, state = run(inject_stateful_hyperparams(gdjax.adam)(schedule, b1=0.8), params)
    want, wstate = run(
        _optax_inject(optax.adam)(optax.exponential_decay(0.05, 50, 0.5), b1=0.8), params
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert sorted(state.hyperparams) == sorted(wstate.hyperparams)
    assert_trees_close(state.hyperparams, wstate.hyperparams)
    assert isinstance(state.hyperparams_states["learning_rate"], WrappedScheduleState)
    assert int(state.hyperparams_states["learning_rate"].count) == 300
    assert int(state.count) == 300
    # The schedule's numbers stay data: the transformation is a pytree of them.
    leaves = jax.tree.leaves(inject_stateful_hyperparams(gdjax.adam)(schedule, b1=0.8))
    assert 0.05 in leaves and 50 in leaves


def test_inject_stateful_matches_optax_with_a_stateful_schedule():
    params = nested_params()
    schedule = HalveWhenWorse(0.3)
    assert isinstance(schedule, StatefulSchedule)
    got, state = run(
        inject_stateful_hyperparams(gdjax.sgd)(schedule, momentum=0.9), params, pass_value=True
    )
    want, wstate = run(_optax_inject(optax.sgd)(schedule, momentum=0.9), params, pass_value=True)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert_trees_close(state.hyperparams, wstate.hyperparams)
    assert_trees_close(
        tuple(state.hyperparams_states["learning_rate"]),
        tuple(wstate.hyperparams_states["learning_rate"]),
    )
    assert float(state.hyperparams["learning_rate"]) < 0.3  # it did halve


def test_inject_stateful_numeric_values_change_between_steps():
    params = {"a": jnp.ones(2)}
    tx = inject_stateful_hyperparams(gdjax.sgd)(learning_rate=0.1)
    state = tx.init(params)
    step = jax.jit(tx.update)
    u, state = step(params, state, params)
    np.testing.assert_allclose(u["a"], -0.1)
    state.hyperparams["learning_rate"] = jnp.float32(0.01)
    u, state = step(params, state, params)
    np.testing.assert_allclose(u["a"], -0.01)
    assert step._cache_size() == 1


def test_inject_stateful_validation():
    with pytest.raises(ValueError, match=r"^sgd: learning_rate .*-1\.0"):
        inject_stateful_hyperparams(gdjax.sgd)(learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"^sgd: momentum .*1\.5"):
        inject_stateful_hyperparams(gdjax.sgd)(HalveWhenWorse(0.1), momentum=1.5)
    with pytest.raises(ValueError, match=r"^inject_stateful_hyperparams: static_args.*'nope'"):
        inject_stateful_hyperparams(gdjax.sgd, static_args="nope")


def test_inject_stateful_bfloat16_zero_gradients_and_vmap():
    params = nested_params(jnp.bfloat16)
    tx = inject_stateful_hyperparams(gdjax.adam)(learning_rate=0.01)
    u, state = jax.jit(tx.update)(params, tx.init(params), params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert state.hyperparams["learning_rate"].dtype == jnp.float32  # at least float32
    got, _ = run(tx, nested_params(), 10, _zero_loss)
    assert_trees_close(got, nested_params(), rtol=0, atol=0)

    def final(lr):
        tx = inject_stateful_hyperparams(gdjax.sgd)(learning_rate=lr, momentum=0.9)
        return run(tx, nested_params(), 30)[0]

    batched = jax.jit(jax.vmap(final))(jnp.array([0.01, 0.03]))
    for i, lr in enumerate((0.01, 0.03)):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(lr))
