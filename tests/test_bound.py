"""Optimizers as pytrees of their hyperparameters (gdjax.bound): every alias and
transformation is a tree whose leaves are its numbers, so it is a jit argument that
compiles once per kind, a stack of them vmaps, and it is saved like any tree."""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax import checkpoint, schedules
from gdjax import tree as gtree
from gdjax.bound import Bound, Static, bind, is_pure, split, stacked_calls

PARAMS = {
    "w": jnp.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]),
    "nested": {"b": jnp.array([0.1, -0.2, 0.3]), "s": jnp.array(1.25)},
}


def grad_of(params):
    """A gradient that changes with the params, so that steps differ from step to step."""
    return jax.grad(lambda p: sum(jnp.sum(jnp.sin(x) * x**2) for x in jax.tree.leaves(p)))(params)


# Every alias, in the variants whose options change its program, as lr -> optimizer.
ALIASES = {
    "sgd": lambda lr: gdjax.sgd(lr),
    "momentum": lambda lr: gdjax.sgd(lr, 0.9),
    "nesterov": lambda lr: gdjax.sgd(lr, 0.9, nesterov=True),
    "adagrad": lambda lr: gdjax.adagrad(lr),
    "rmsprop": lambda lr: gdjax.rmsprop(lr),
    "rmsprop_centered_momentum": lambda lr: gdjax.rmsprop(lr, centered=True, momentum=0.9),
    "adadelta": lambda lr: gdjax.adadelta(lr),
    "adam": lambda lr: gdjax.adam(lr),
    "nadam": lambda lr: gdjax.nadam(lr),
    "amsgrad": lambda lr: gdjax.amsgrad(lr),
    "adamw": lambda lr: gdjax.adamw(lr, weight_decay=1e-2),
    "adamw_masked": lambda lr: gdjax.adamw(
        lr, weight_decay=1e-2, mask={"w": True, "nested": {"b": False, "s": True}}
    ),
    "adamax": lambda lr: gdjax.adamax(lr),
    "noisy_sgd": lambda lr: gdjax.noisy_sgd(lr, key=3),
    "scheduled_sgd": lambda lr: gdjax.sgd(schedules.exponential_decay(lr, 10, 0.5), 0.9),
    "clipped_adam": lambda lr: gdjax.chain(gdjax.clip_by_global_norm(1.0), gdjax.adam(lr)),
    "partition": lambda lr: gdjax.partition(
        {"fast": gdjax.sgd(lr), "slow": gdjax.adam(lr / 10)},
        {"w": "fast", "nested": {"b": "slow", "s": "fast"}},
    ),
    # AdaGrad: its steps shrink, where RMSProp's keep their size and a rounding difference
    # between two programs can grow (by 3% in 100 steps under XLA's LLVM -O0).
    "apply_if_finite": lambda lr: gdjax.apply_if_finite(gdjax.adagrad(lr), 3),
    "inject_hyperparams": lambda lr: gdjax.inject_hyperparams(gdjax.adam)(learning_rate=lr),
    "reduce_on_plateau": lambda lr: gdjax.chain(gdjax.sgd(lr), gdjax.reduce_on_plateau()),
}
RATES = (0.1, 0.03, 0.01)
STEPS = 100


def run(optimizer, steps=STEPS):
    """``steps`` steps of ``optimizer`` from PARAMS, as one scan; the final params."""

    def step(carry, _):
        params, state = carry
        grads = grad_of(params)
        updates, state = optimizer.update(grads, state, params, value=jnp.sum(grads["w"]))
        return (gdjax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (PARAMS, optimizer.init(PARAMS)), None, length=steps)
    return params


def assert_trees_close(actual, expected, rtol=2e-5, atol=1e-6):
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- the leaves


def test_the_leaves_of_adam_are_its_hyperparameters():
    leaves = jax.tree_util.tree_flatten_with_path(gdjax.adam(1e-3, b1=0.8))[0]
    named = {jax.tree_util.keystr(path).split(".")[-1]: leaf for path, leaf in leaves}
    assert named == {"b1": 0.8, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0, "learning_rate": 1e-3}


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_every_alias_is_a_tree_of_numbers(name):
    optimizer = ALIASES[name](0.1)
    assert is_pure(optimizer), [x for x in jax.tree.leaves(optimizer) if callable(x)]
    assert 0.1 in [float(x) for x in jax.tree.leaves(optimizer) if np.ndim(x) == 0] or name in (
        "partition",  # 0.1 and 0.1 / 10: still numbers
        "inject_hyperparams",
    )


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_equal_kinds_and_options_have_equal_structures(name):
    assert jax.tree.structure(ALIASES[name](0.1)) == jax.tree.structure(ALIASES[name](0.5))


def test_different_options_have_different_structures():
    structure = jax.tree.structure
    assert structure(gdjax.sgd(0.1, 0.9)) != structure(gdjax.sgd(0.1, 0.9, nesterov=True))
    assert structure(gdjax.rmsprop(0.1)) != structure(gdjax.rmsprop(0.1, centered=True))
    assert structure(gdjax.adam(0.1)) != structure(gdjax.adam(0.1, mu_dtype=jnp.bfloat16))
    assert structure(gdjax.sgd(0.1)) != structure(gdjax.sgd(schedules.constant(0.1)))
    assert structure(gdjax.adam(0.1)) != structure(gdjax.nadam(0.1))


def test_a_zero_weight_decay_is_a_value_not_another_kind():
    # adamw(wd=0) and adamw(wd=1e-4) must stack for a weight-decay sweep.
    assert jax.tree.structure(gdjax.adamw(0.1, weight_decay=0.0)) == jax.tree.structure(
        gdjax.adamw(0.1, weight_decay=1e-4)
    )


# --------------------------------------------------------------------------- jit and vmap


def _step(optimizer, params, state, grads):
    updates, state = optimizer.update(grads, state, params, value=jnp.float32(1.0))
    return gdjax.apply_updates(params, updates), state


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_a_jitted_step_taking_the_optimizer_traces_once_for_three_rates(name):
    traces = 0

    @jax.jit
    def step(optimizer, params, state, grads):
        nonlocal traces
        traces += 1
        return _step(optimizer, params, state, grads)

    grads = grad_of(PARAMS)
    for rate in RATES:
        optimizer = ALIASES[name](rate)
        params, _ = step(optimizer, PARAMS, optimizer.init(PARAMS), grads)
    assert traces == 1
    # The last step equals the same step with the optimizer closed over, as a user writes it.
    expected, _ = jax.jit(functools.partial(_step, optimizer))(
        PARAMS, optimizer.init(PARAMS), grads
    )
    assert_trees_close(params, expected)


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_a_vmapped_stack_of_optimizers_equals_the_separate_runs(name):
    optimizers = [ALIASES[name](rate) for rate in RATES]
    stack = jax.tree.map(lambda *x: jnp.stack(x), *optimizers)
    together = jax.jit(jax.vmap(run))(stack)
    alone = jax.jit(run)  # one program for the three: the optimizer is its argument
    for i, optimizer in enumerate(optimizers):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], together), alone(optimizer))
    # The runs differ: the stack really carried three rates.
    assert not np.allclose(together["w"][0], together["w"][2])


def test_schedules_are_trees_of_their_numbers():
    decay = schedules.exponential_decay(0.1, 10, 0.5)
    assert isinstance(decay, Bound)
    assert sorted(float(x) for x in jax.tree.leaves(decay)) == [0, 0.1, 0.5, 10]
    traces = 0

    @jax.jit
    def value(schedule, count):
        nonlocal traces
        traces += 1
        return schedule(count)

    for init in (0.1, 0.2, 0.4):
        np.testing.assert_allclose(
            value(schedules.exponential_decay(init, 10, 0.5), 20), init * 0.25, rtol=1e-6
        )
    assert traces == 1
    # A schedule inside an optimizer is part of its tree.
    assert jax.tree.leaves(decay) == jax.tree.leaves(gdjax.sgd(decay))


def test_a_lambda_schedule_is_an_option_compared_by_identity():
    def schedule(count):
        return 0.1 / (1 + count)

    optimizer = gdjax.sgd(schedule)
    assert jax.tree.leaves(optimizer) == [] and is_pure(optimizer)
    assert jax.tree.structure(optimizer) == jax.tree.structure(gdjax.sgd(schedule))
    assert jax.tree.structure(optimizer) != jax.tree.structure(gdjax.sgd(lambda c: 0.1))
    data, skeleton = split(optimizer)
    rebuilt = skeleton.fill(data)
    assert rebuilt.update.hyperparams["transforms"][-1].learning_rate is schedule


# --------------------------------------------------------------------------- by name


def test_tree_get_and_set_read_and_replace_a_hyperparameter_by_name():
    optimizer = gdjax.adam(1e-3)
    assert gtree.get(optimizer, "learning_rate") == 1e-3
    faster = gtree.set(optimizer, learning_rate=1e-2)
    assert jax.tree.structure(faster) == jax.tree.structure(optimizer)
    assert_trees_close(jax.jit(run)(faster), jax.jit(run)(gdjax.adam(1e-2)), rtol=0, atol=0)
    # A float replaced by a schedule is sorted again: the schedule's numbers are leaves.
    scheduled = gtree.set(optimizer, learning_rate=schedules.constant(0.5))
    assert gtree.get(scheduled, "learning_rate")(3) == 0.5
    with pytest.raises(KeyError, match="nothing in the tree is called \\['lr'\\]"):
        gtree.set(optimizer, lr=0.1)


def test_tree_get_refuses_an_ambiguous_name_and_filters_by_path():
    optimizer = gdjax.chain(gdjax.trace(0.9), gdjax.trace(0.5))
    with pytest.raises(KeyError, match="2 values are called 'decay'"):
        gtree.get(optimizer, "decay")
    second = gtree.get(
        optimizer, "decay", filtering=lambda path, _: "[1]" in jax.tree_util.keystr(path)
    )
    assert second == 0.5
    assert gtree.get(optimizer, "momentum", default="absent") == "absent"


def test_tree_get_and_set_work_on_states_as_optax_does():
    state = gdjax.adam(0.1).init(PARAMS)
    assert int(gtree.get(state, "count")) == 0
    assert int(gtree.get(gtree.set(state, count=jnp.int32(7)), "count")) == 7
    assert gtree.get(state, "ScaleByAdamState").count == 0
    assert optax.tree.get(state, "count") == gtree.get(state, "count")


def test_a_bound_hyperparameter_reads_as_an_attribute():
    update = gdjax.trace(0.9, nesterov=True).update
    assert update.decay == 0.9 and update.nesterov is True
    with pytest.raises(AttributeError, match="has no hyperparameter 'momentum'"):
        update.momentum  # noqa: B018
    assert "decay" not in inspect.signature(update).parameters


# --------------------------------------------------------------------------- saved


def test_an_optimizer_is_saved_beside_its_state_and_restored(tmp_path):
    optimizer = gdjax.sgd(schedules.cosine_decay(0.3, 100), 0.85, nesterov=True)
    state = optimizer.init(PARAMS)
    checkpoint.save(tmp_path, 1, PARAMS, state, optimizer)
    blank = gdjax.sgd(schedules.cosine_decay(0.0, 1), 0.0, nesterov=True)
    restored = checkpoint.restore(tmp_path, (PARAMS, state, blank)).extra
    assert jax.tree.structure(restored) == jax.tree.structure(optimizer)
    assert_trees_close(jax.jit(run)(restored), jax.jit(run)(optimizer), rtol=0, atol=0)


def test_restoring_into_another_kind_of_optimizer_is_refused(tmp_path):
    state = gdjax.sgd(0.1, 0.9).init(PARAMS)
    checkpoint.save(tmp_path, 1, PARAMS, state, gdjax.sgd(0.1, 0.9))
    with pytest.raises(checkpoint.CheckpointError, match="differ in structure"):
        checkpoint.restore(tmp_path, (PARAMS, state, gdjax.sgd(0.1, 0.9, nesterov=True)))


# --------------------------------------------------------------------------- the helper


def _scaled(updates, state, params=None, *, factor, exact):
    del params, exact
    return jax.tree.map(lambda g: factor * g, updates), state


def test_bind_sorts_numbers_from_options_and_static_marks_an_int_as_an_option():
    bound = bind(_scaled, factor={"w": 2.0, "b": np.float32(3)}, exact=Static(4))
    assert sorted(float(x) for x in jax.tree.leaves(bound)) == [2.0, 3.0]
    assert bound.hyperparams["exact"] == 4
    assert jax.tree.structure(bound) != jax.tree.structure(
        bind(_scaled, factor={"w": 2.0, "b": 1.0}, exact=Static(5))
    )
    assert "_scaled" in repr(bound) and "factor" in repr(bound)


def test_the_structure_prints_the_same_in_every_process():
    # Checkpoints compare treedefs as text: no memory addresses in it.
    assert " at 0x" not in str(jax.tree.structure(gdjax.adam(0.1)))


def test_an_optax_optimizer_splits_into_no_data_and_its_closures():
    optimizer = optax.adam(0.1)
    data, skeleton = split(optimizer)
    assert data == [] and hash(skeleton) is not None
    assert skeleton.fill(data).update is optimizer.update
    assert skeleton != split(optax.adam(0.1))[1]  # new closures: another program


def test_stacked_calls_stack_a_factorys_numbers_or_decline_closures():
    rates = np.array([0.1, 0.2, 0.3], np.float32)
    data, skeleton = stacked_calls(lambda lr: gdjax.adam(lr), {"lr": rates})
    assert skeleton == split(gdjax.adam(0.5))[1]
    assert any(np.array_equal(np.asarray(d), rates) for d in data)
    assert all(np.shape(d) == (3,) for d in data)
    assert stacked_calls(lambda lr: optax.adam(lr), {"lr": rates}) is None
    # A schedule built from a lambda inside the factory is a new option per call.
    assert stacked_calls(lambda lr: gdjax.sgd(lambda c: lr / (1 + c)), {"lr": rates}) is None
