import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.bound import bind
from gdjax.transforms.accumulation import (
    ApplyEvery,
    MultiSteps,
    MultiStepsState,
    apply_every,
    skip_large_updates,
    skip_not_finite,
)
from tests.helpers import (
    DEFAULT_COMPILER,
    assert_moved,
    assert_trees_close,
    loss,
    nested_params,
    run,
)


def _run_with_bad_steps(tx, params, steps=300, every=7):
    """``steps`` steps as one jitted scan, the gradients at every ``every``-th step
    replaced by NaN (in one leaf) and by huge values at the steps after those."""

    def step(carry, t):
        p, s = carry
        g = jax.grad(loss)(p)
        g["dense"]["w"] = jnp.where(t % every == 3, jnp.nan, g["dense"]["w"])
        g["scale"] = jnp.where(t % every == 4, 1e4, g["scale"])
        u, s = tx.update(g, s, p)
        return (jax.tree.map(lambda a, b: a + b, p, u), s), None

    @jax.jit
    def go(p):
        (p, s), _ = jax.lax.scan(step, (p, tx.init(p)), jnp.arange(steps))
        return p, s

    return go(params)


# --------------------------------------------------------------------------- MultiSteps


def test_multisteps_defaults_match_optax():
    params = nested_params()
    got, state = run(MultiSteps(gdjax.adam(0.01), 3).gradient_transformation(), params)
    want, wstate = run(optax.MultiSteps(optax.adam(0.01), 3).gradient_transformation(), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(state).__name__ == type(wstate).__name__ == "MultiStepsState"
    assert state._fields == wstate._fields
    assert_trees_close(state.acc_grads, wstate.acc_grads)
    assert int(state.gradient_step) == int(wstate.gradient_step) == 100
    assert int(state.mini_step) == int(wstate.mini_step) == 0


def test_multisteps_sum_schedule_and_dtype_match_optax():
    params = nested_params()

    def every(step):
        return jnp.where(step < 20, 2, 4)

    kwargs = dict(use_grad_mean=False, accumulator_dtype=jnp.bfloat16)
    gdjax_steps = MultiSteps(gdjax.sgd(0.005, 0.9), every, **kwargs)
    optax_steps = optax.MultiSteps(optax.sgd(0.005, 0.9), every, **kwargs)
    # XLA's default compilation: the bfloat16 sums round alike in both programs there.
    got, state = run(
        gdjax_steps.gradient_transformation(), params, compiler_options=DEFAULT_COMPILER
    )
    want, wstate = run(
        optax_steps.gradient_transformation(), params, compiler_options=DEFAULT_COMPILER
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert int(state.gradient_step) == int(wstate.gradient_step)
    assert jax.tree.leaves(state.acc_grads)[0].dtype == jnp.bfloat16


def test_multisteps_skip_not_finite_matches_optax_on_nan_gradients():
    params = nested_params()
    got, state = _run_with_bad_steps(
        MultiSteps(gdjax.adam(0.01), 3, should_skip_update_fn=skip_not_finite), params
    )
    want, wstate = _run_with_bad_steps(
        optax.MultiSteps(optax.adam(0.01), 3, should_skip_update_fn=optax.skip_not_finite),
        params,
    )
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(got))
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert int(state.gradient_step) == int(wstate.gradient_step)
    # 300 mini-steps, 43 of them NaN: (300 - 43) // 3 inner steps.
    assert int(state.gradient_step) == (300 - 43) // 3
    assert sorted(state.skip_state) == ["num_not_finite", "should_skip"]
    assert_trees_close(state.skip_state, wstate.skip_state)


def test_multisteps_skip_large_updates_matches_optax_and_keeps_the_threshold_data():
    params = nested_params()
    rule = bind(skip_large_updates, max_squared_norm=1e6)
    tx = MultiSteps(gdjax.sgd(0.01), 2, should_skip_update_fn=rule)
    assert 1e6 in jax.tree.leaves(tx.gradient_transformation())
    got, state = _run_with_bad_steps(tx, params)
    want, wstate = _run_with_bad_steps(
        optax.MultiSteps(
            optax.sgd(0.01),
            2,
            should_skip_update_fn=functools.partial(optax.skip_large_updates, max_squared_norm=1e6),
        ),
        params,
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert_trees_close(state.skip_state, wstate.skip_state, rtol=1e-5)
    assert int(state.gradient_step) == int(wstate.gradient_step)


def test_skip_rules_match_optax():
    g = {"a": jnp.array([1.0, jnp.nan, jnp.inf]), "b": jnp.array(2.0)}
    for ours, theirs in (
        (skip_not_finite, optax.skip_not_finite),
        (
            functools.partial(skip_large_updates, max_squared_norm=3.0),
            functools.partial(optax.skip_large_updates, max_squared_norm=3.0),
        ),
    ):
        for tree in (g, {"a": jnp.array([1.0, 0.5])}):
            a, info = ours(tree, jnp.int32(0), None)
            b, winfo = theirs(tree, jnp.int32(0), None)
            assert bool(a) == bool(b)
            assert sorted(info) == sorted(winfo)
            assert_trees_close(info, winfo)


def test_multisteps_nan_step_is_as_if_it_never_happened():
    params = {"a": jnp.array([1.0, 2.0])}
    ms = MultiSteps(gdjax.sgd(1.0), 2, should_skip_update_fn=skip_not_finite)
    state = ms.init(params)
    ms.update = jax.jit(ms.update)
    good = {"a": jnp.array([1.0, 3.0])}
    u, state = ms.update(good, state, params)
    np.testing.assert_array_equal(u["a"], 0.0)
    assert not bool(ms.has_updated(state))
    u, skipped = ms.update({"a": jnp.array([jnp.nan, 1.0])}, state, params)
    np.testing.assert_array_equal(u["a"], 0.0)
    assert int(skipped.skip_state["num_not_finite"]) == 1
    assert_trees_close(skipped._replace(skip_state=()), state._replace(skip_state=()))
    u, state = ms.update({"a": jnp.array([3.0, 5.0])}, skipped, params)
    np.testing.assert_allclose(u["a"], [-2.0, -4.0])  # the mean of the two good ones
    assert bool(ms.has_updated(state))


def test_multisteps_refuses_a_non_bool_skip_decision():
    ms = MultiSteps(gdjax.sgd(1.0), 2, should_skip_update_fn=lambda u, s, p: (jnp.int32(0), ()))
    params = {"a": jnp.ones(2)}
    with pytest.raises(ValueError, match="bool scalar"):
        ms.update(params, ms.init(params), params)


def test_multisteps_signature_and_state_match_optax():
    import inspect

    ours = inspect.signature(MultiSteps).parameters
    theirs = inspect.signature(optax.MultiSteps).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()]
    assert ours["use_grad_mean"].default is True
    assert ours["should_skip_update_fn"].default is None
    assert ours["accumulator_dtype"].default == jnp.float32
    assert MultiStepsState._fields == optax.MultiStepsState._fields
    assert ApplyEvery._fields == optax.ApplyEvery._fields
    for name in ("skip_not_finite", "skip_large_updates", "apply_every"):
        ours = inspect.signature(globals()[name]).parameters
        theirs = inspect.signature(getattr(optax, name)).parameters
        assert [(p.name, p.kind, p.default) for p in ours.values()] == [
            (p.name, p.kind, p.default) for p in theirs.values()
        ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_multisteps_validates_k(bad):
    with pytest.raises(ValueError, match=rf"^MultiSteps: every_k_schedule .*{bad!r}"):
        MultiSteps(gdjax.sgd(0.1), bad)


def test_multisteps_validates_options():
    with pytest.raises(ValueError, match=r"^MultiSteps: use_grad_mean .*1"):
        MultiSteps(gdjax.sgd(0.1), 2, use_grad_mean=1)
    with pytest.raises(ValueError, match=r"^MultiSteps: should_skip_update_fn .*'no'"):
        MultiSteps(gdjax.sgd(0.1), 2, should_skip_update_fn="no")


def test_multisteps_bfloat16_params_give_bfloat16_updates():
    params = nested_params(jnp.bfloat16)
    ms = MultiSteps(gdjax.adam(0.01), 2)
    state = ms.init(params)
    update = jax.jit(ms.update)
    for _ in range(2):
        u, state = update(jax.jit(jax.grad(loss))(params), state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.inner_opt_state[0].mu))
    # optax's documented default: the accumulator is float32 whatever the params.
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.acc_grads))


def test_multisteps_zero_gradients_leave_params_unchanged():
    params = nested_params()
    zero = lambda p: 0.0 * loss(p)  # noqa: E731
    after, _ = run(MultiSteps(gdjax.adam(0.1), 3).gradient_transformation(), params, 30, zero)
    assert_trees_close(after, params, rtol=0, atol=0)


def test_multisteps_vmaps_over_k_inside_jit():
    params = nested_params()

    def final(k):
        return run(MultiSteps(gdjax.sgd(0.01), k).gradient_transformation(), params, 60)[0]

    batched = jax.jit(jax.vmap(final))(jnp.array([2, 3]))
    for i, k in enumerate((2, 3)):
        single = final(k)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), single)
    assert not np.allclose(batched["scale"][0], batched["scale"][1])


def test_multisteps_forwards_extra_arguments_to_the_inner_optimizer():
    params = {"a": jnp.ones(2)}
    ms = MultiSteps(gdjax.chain(gdjax.reduce_on_plateau(patience=1), gdjax.sgd(0.1)), 1)
    state = ms.init(params)
    update = jax.jit(ms.update)
    for _ in range(4):
        _, state = update(params, state, params, value=jnp.float32(1.0))
    assert float(state.inner_opt_state[0].scale) < 1.0


# --------------------------------------------------------------------------- apply_every


@pytest.mark.parametrize("k", [1, 3])
def test_apply_every_matches_optax(k):
    params = nested_params()
    got, state = run(gdjax.chain(gdjax.trace(0.5), apply_every(k), gdjax.scale(-0.005)), params)
    want, wstate = run(
        optax.chain(optax.trace(0.5), optax.apply_every(k), optax.scale(-0.005)), params
    )
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert state[1]._fields == wstate[1]._fields
    assert_trees_close(tuple(state[1]), tuple(wstate[1]))


def test_apply_every_default_is_one():
    assert gdjax.tree.get(apply_every(), "k") == 1


@pytest.mark.parametrize("bad", [0, 1.5, -2])
def test_apply_every_validates_k(bad):
    with pytest.raises(ValueError, match=rf"^apply_every: k .*{bad!r}"):
        apply_every(bad)


def test_apply_every_bfloat16_and_zero_gradients():
    params = nested_params(jnp.bfloat16)
    tx = apply_every(2)
    state = tx.init(params)
    for _ in range(2):
        u, state = tx.update(params, state)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state.grad_acc))
    zero = lambda p: 0.0 * loss(p)  # noqa: E731
    after, _ = run(gdjax.chain(apply_every(2), gdjax.scale(-0.1)), nested_params(), 10, zero)
    assert_trees_close(after, nested_params(), rtol=0, atol=0)


def test_apply_every_vmaps_over_k_inside_jit():
    params = nested_params()

    def final(k):
        return run(gdjax.chain(apply_every(k), gdjax.scale(-0.01)), params, 30)[0]

    batched = jax.jit(jax.vmap(final))(jnp.array([1, 4]))
    for i, k in enumerate((1, 4)):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), final(k))
