import re
import warnings

import jax
import jax.numpy as jnp
import optax
import pytest

import gdjax
from gdjax.optimizers.step_sizes import (
    optimistic_adam,
    optimistic_gradient_descent,
    polyak_sgd,
)
from tests.helpers import assert_moved, assert_trees_close, convex_loss, nested_params, run


def _optax_optimistic_adam(*args, **kwargs):
    with warnings.catch_warnings():  # optax 0.2.8 deprecates it in favour of optimistic_adam_v2
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.optimistic_adam(*args, **kwargs)


# name -> (gdjax optimizer, optax optimizer, pass the loss as `value`)
PARITY = {
    "polyak_sgd-defaults": (polyak_sgd(), optax.polyak_sgd(), True),
    "polyak_sgd-custom": (
        polyak_sgd(0.3, scaling=0.5, f_min=-2.0, eps=1e-3, variant="sps+"),
        optax.polyak_sgd(0.3, scaling=0.5, f_min=-2.0, eps=1e-3, variant="sps+"),
        True,
    ),
    "optimistic_gradient_descent-defaults": (
        optimistic_gradient_descent(0.02),
        optax.optimistic_gradient_descent(0.02),
        False,
    ),
    "optimistic_gradient_descent-custom": (
        optimistic_gradient_descent(0.05, alpha=0.5, beta=0.25),
        optax.optimistic_gradient_descent(0.05, alpha=0.5, beta=0.25),
        False,
    ),
    "optimistic_adam-defaults": (
        optimistic_adam(0.01),
        _optax_optimistic_adam(0.01),
        False,
    ),
    "optimistic_adam-custom": (
        optimistic_adam(0.02, 0.05, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False),
        _optax_optimistic_adam(
            0.02, 0.05, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9, nesterov=False
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs, pass_value = PARITY[name]
    params = nested_params()
    got, got_state = run(ours, params, pass_value=pass_value)
    want, want_state = run(theirs, params, pass_value=pass_value)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The same states: structure (the classes are gdjax's own), field names, values.
    flat = jax.tree_util.tree_flatten_with_path
    got_paths = [(jax.tree_util.keystr(p), x) for p, x in flat(got_state)[0]]
    want_paths = [(jax.tree_util.keystr(p), x) for p, x in flat(want_state)[0]]
    assert [p for p, _ in got_paths] == [p for p, _ in want_paths]
    assert_trees_close([x for _, x in got_paths], [x for _, x in want_paths])
    names = [type(s).__name__ for s in jax.tree.leaves(got_state, is_leaf=_is_state)]
    assert names == [type(s).__name__ for s in jax.tree.leaves(want_state, is_leaf=_is_state)]


def _is_state(x):
    return hasattr(x, "_fields")


def test_polyak_sgd_takes_the_loss():
    params = nested_params()
    opt = polyak_sgd()
    with pytest.raises(ValueError, match="value=loss"):
        opt.update(params, opt.init(params), params)


def test_optimistic_gradient_descent_converges_on_a_bilinear_game():
    """min_x max_y x*y: simultaneous gradient descent-ascent spirals out, OGD spirals in."""

    def field(p):
        x, y = p
        return (y, -x)  # descent in x, ascent in y

    def final(opt):
        p, state = (jnp.asarray(1.0), jnp.asarray(1.0)), opt.init((1.0, 1.0))
        update = jax.jit(opt.update)
        for _ in range(300):
            u, state = update(field(p), state, p)
            p = gdjax.apply_updates(p, u)
        return float(jnp.hypot(*p))

    assert final(optimistic_gradient_descent(0.1)) < 0.5  # from sqrt(2)
    assert final(gdjax.sgd(0.1)) > 1.5


PARAM_CASES = {
    "polyak_sgd": (lambda: polyak_sgd(0.5), True),
    "optimistic_gradient_descent": (lambda: optimistic_gradient_descent(0.05), False),
    "optimistic_adam": (lambda: optimistic_adam(0.05), False),
}


@pytest.mark.parametrize("name", list(PARAM_CASES))
def test_bfloat16_params_give_bfloat16_updates(name):
    make, pass_value = PARAM_CASES[name]
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), nested_params())
    opt = make()
    extra = {"value": jnp.float32(2.0)} if pass_value else {}
    grads = jax.tree.map(lambda x: jnp.sin(x) + 0.3, params)
    updates, state = jax.jit(opt.update)(grads, opt.init(params), params, **extra)
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}
    assert all(jnp.any(x) for x in jax.tree.leaves(updates))
    shaped = [x for x in jax.tree.leaves(state) if x.ndim or x.dtype not in (jnp.int32, jnp.bool_)]
    assert {x.dtype for x in shaped} <= {jnp.dtype(jnp.bfloat16)}


@pytest.mark.parametrize("name", list(PARAM_CASES))
def test_zero_gradients_leave_params_unchanged(name):
    make, pass_value = PARAM_CASES[name]
    params = nested_params()
    opt = make()
    extra = {"value": jnp.float32(2.0)} if pass_value else {}
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = opt.init(params)
    for _ in range(2):
        updates, state = jax.jit(opt.update)(zeros, state, params, **extra)
        assert all(not jnp.any(x) for x in jax.tree.leaves(updates))


SCHEDULED = {
    # alias -> (build from the rate, pass the loss); the rate sweeps are test_family's
    "polyak_sgd": (lambda lr: polyak_sgd(scaling=lr), True),
    "optimistic_gradient_descent": (lambda lr: optimistic_gradient_descent(lr), False),
}


@pytest.mark.parametrize("name", list(SCHEDULED))
def test_a_schedule_works_where_the_rate_does(name):
    make, pass_value = SCHEDULED[name]
    params = nested_params()
    schedule = gdjax.schedules.exponential_decay(0.05, 5, 0.5)
    sched, _ = run(make(schedule), params, steps=20, loss_fn=convex_loss, pass_value=pass_value)
    assert_moved(params, sched)

    # The same steps with the schedule's rates given one by one as numbers.
    @jax.jit
    def step(lr, p, state):
        value, g = jax.value_and_grad(convex_loss)(p)
        extra = {"value": value} if pass_value else {}
        u, state = make(lr).update(g, state, p, **extra)
        return gdjax.apply_updates(p, u), state

    p, state = params, make(0.05).init(params)
    for t in range(20):
        p, state = step(schedule(t), p, state)
    assert_trees_close(sched, p)


def test_optimistic_adam_refuses_a_schedule_as_optax_does():
    with pytest.raises(ValueError, match="optimistic_adam: learning_rate must be a number"):
        optimistic_adam(gdjax.schedules.exponential_decay(0.05, 5, 0.5))


BAD = [
    (polyak_sgd, {}, "max_learning_rate", -1.0),
    (polyak_sgd, {}, "scaling", -0.5),
    (polyak_sgd, {}, "f_min", float("nan")),
    (polyak_sgd, {}, "eps", -1e-3),
    (polyak_sgd, {}, "variant", "sps*"),
    (optimistic_gradient_descent, {"learning_rate": 0.1}, "learning_rate", -0.1),
    (optimistic_gradient_descent, {"learning_rate": 0.1}, "alpha", float("inf")),
    (optimistic_gradient_descent, {"learning_rate": 0.1}, "beta", float("nan")),
    (optimistic_adam, {"learning_rate": 0.1}, "learning_rate", -0.1),
    (optimistic_adam, {"learning_rate": 0.1}, "optimism", float("inf")),
    (optimistic_adam, {"learning_rate": 0.1}, "b1", 1.0),
    (optimistic_adam, {"learning_rate": 0.1}, "b2", -0.5),
    (optimistic_adam, {"learning_rate": 0.1}, "eps", -1.0),
    (optimistic_adam, {"learning_rate": 0.1}, "eps_root", -1.0),
    (optimistic_adam, {"learning_rate": 0.1}, "nesterov", 1),
]


@pytest.mark.parametrize("factory, base, name, value", BAD)
def test_refuses_bad_values(factory, base, name, value):
    with pytest.raises(ValueError, match=re.escape(f"{factory.__name__}: {name} ")) as info:
        factory(**{**base, name: value})
    assert repr(value) in str(info.value)
