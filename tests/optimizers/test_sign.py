import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.optimizers.sign import lion, rprop, sign_sgd, signum
from tests.helpers import (
    assert_moved,
    assert_trees_close,
    convex_loss,
    nested_params,
    run,
)


def _layout(state):
    """Every NamedTuple in a state: its class name and its fields, in order."""
    found = []

    def walk(x):
        if isinstance(x, tuple):
            if hasattr(x, "_fields"):
                found.append((type(x).__name__, x._fields))
            for child in x:
                walk(child)

    walk(state)
    return found


_MASK = {"dense": False, "blocks": True, "scale": True}

PARITY = {
    "lion": (lambda: lion(0.001), lambda: optax.lion(0.001)),
    "lion-args": (
        lambda: lion(
            0.003, 0.8, 0.95, jnp.float32, 0.1, {"dense": False, "blocks": True, "scale": True}
        ),
        lambda: optax.lion(
            0.003, 0.8, 0.95, jnp.float32, 0.1, {"dense": False, "blocks": True, "scale": True}
        ),
    ),
    "sign_sgd": (lambda: sign_sgd(0.001), lambda: optax.sign_sgd(0.001)),
    "sign_sgd-larger": (lambda: sign_sgd(0.02), lambda: optax.sign_sgd(0.02)),
    "signum": (lambda: signum(0.001), lambda: optax.signum(0.001)),
    "signum-args": (
        lambda: signum(0.01, 0.5, jnp.float32),
        lambda: optax.signum(0.01, 0.5, jnp.float32),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, state = run(ours(), params)
    want, expected = run(theirs(), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert _layout(state) == _layout(expected)
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))


class _FixedOptaxRprop:
    """optax 0.2.8's rprop taking the step its state has just recorded (the fix of optax
    pull request 1725): its own update lags one step behind (see `scale_by_rprop`)."""

    def __init__(self, *args):
        self.inner = optax.scale_by_rprop(*args)
        self.init = self.inner.init

    def update(self, updates, state, params=None):
        del params
        _, state = self.inner.update(updates, state)
        return jax.tree.map(jnp.negative, state.prev_updates), state


@pytest.mark.parametrize(
    "args", [(0.01,), (0.05, 0.3, 1.5, 1e-4, 1.0)], ids=["defaults", "non-default"]
)
def test_rprop_matches_optax_fixed_over_300_steps(args):
    params = nested_params()
    got, state = run(rprop(*args), params)
    want, expected = run(_FixedOptaxRprop(*args), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert _layout(state[0]) == _layout(expected)
    assert_trees_close(jax.tree.leaves(state), jax.tree.leaves(expected))
    assert _layout(state) == _layout(optax.rprop(*args).init(params))


def test_rprop_differs_from_optax_only_by_optax_lag():
    # optax 0.2.8's first step is zero; gdjax's moves every coordinate by -lr * sign(g).
    params = nested_params()
    g = jax.jit(jax.grad(convex_loss))(params)
    ours, theirs = rprop(0.01), optax.rprop(0.01)
    u, _ = jax.jit(ours.update)(g, ours.init(params), params)
    v, _ = jax.jit(theirs.update)(g, theirs.init(params), params)
    assert all(not np.any(x) for x in jax.tree.leaves(v))
    assert_trees_close(u, jax.tree.map(lambda g: -0.01 * jnp.sign(g), g))


# --------------------------------------------------------------------------- PyTorch

torch = pytest.importorskip("torch")


def _run_with_torch(ours, kwargs, params, steps):
    """``steps`` steps of both on the same noisy gradients (as tests/test_optimizers_torch.py)."""
    tensors = [
        torch.tensor(np.asarray(x), dtype=torch.float32, requires_grad=True)
        for x in jax.tree.leaves(params)
    ]
    theirs = torch.optim.Rprop(tensors, **kwargs)
    gradient = jax.jit(jax.grad(convex_loss))
    update = jax.jit(ours.update)
    rng = np.random.default_rng(0)
    state = ours.init(params)
    for _ in range(steps):
        grads = jax.tree.map(
            lambda g: g + 0.3 * rng.standard_normal(g.shape).astype(np.float32), gradient(params)
        )
        updates, state = update(grads, state, params)
        params = gdjax.apply_updates(params, updates)
        for tensor, g in zip(tensors, jax.tree.leaves(grads), strict=True):
            tensor.grad = torch.tensor(np.asarray(g))
        theirs.step()
    return params, [t.detach().numpy() for t in tensors]


TORCH = {
    "defaults": (rprop(0.01), {"lr": 0.01}),
    "non-default": (
        rprop(0.05, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-4, max_step_size=1.0),
        {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-4, 1.0)},
    ),
    # PyTorch clamps the initial step size into the bounds at its first step (where the
    # step size is otherwise left alone); gdjax and optax clamp a step size only when
    # they change it. PyTorch's Rprop(lr) is gdjax's rprop(clip(lr, min, max)).
    "lr-above-max": (
        rprop(0.5, min_step_size=1e-6, max_step_size=0.5),
        {"lr": 2.0, "step_sizes": (1e-6, 0.5)},
    ),
}


@pytest.mark.parametrize("name", list(TORCH))
def test_rprop_matches_pytorch(name):
    # PyTorch zeroes the gradient it remembers after a sign change, so that the next
    # step compares with zero and keeps its size; gdjax (and optax's state) zero the
    # remembered step: the same rule. PyTorch multiplies the values g * prev, gdjax the
    # signs, which differ only where the product of the values underflows.
    ours, kwargs = TORCH[name]
    start = nested_params()
    got, want = _run_with_torch(ours, kwargs, start, 300 if name == "defaults" else 120)
    assert_moved(start, got)
    for a, b in zip(jax.tree.leaves(got), want, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- arguments

BAD = [
    (lambda: lion(0.001, b1=1.5), "lion: b1", 1.5),
    (lambda: lion(0.001, b2=-0.5), "lion: b2", -0.5),
    (lambda: lion(0.001, weight_decay=-1e-3), "lion: weight_decay", -1e-3),
    (lambda: lion(-0.001), "lion: learning_rate", -0.001),
    (lambda: sign_sgd(-0.1), "sign_sgd: learning_rate", -0.1),
    (lambda: signum(0.1, beta=1.0), "signum: beta", 1.0),
    (lambda: signum(-0.1), "signum: learning_rate", -0.1),
    (lambda: rprop(-0.1), "rprop: learning_rate", -0.1),
    (lambda: rprop(0.1, eta_minus=0.0), "rprop: eta_minus", 0.0),
    (lambda: rprop(0.1, eta_plus=0.5), "rprop: eta_plus", 0.5),
    (lambda: rprop(0.1, min_step_size=-1e-6), "rprop: min_step_size", -1e-6),
    (lambda: rprop(0.1, max_step_size=-1.0), "rprop: max_step_size", -1.0),
    (lambda: rprop(0.1, min_step_size=2.0, max_step_size=1.0), "rprop: max_step_size", 1.0),
]


@pytest.mark.parametrize("make,start,value", BAD)
def test_bad_values_are_refused(make, start, value):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith(start + " ")
    assert repr(value) in str(error.value)


def test_rprop_refuses_a_schedule():
    match = r"rprop: learning_rate must be .* not a schedule \(Rprop's initial step size\)"
    with pytest.raises(ValueError, match=match):
        rprop(gdjax.schedules.constant(0.1))


ALIASES = {
    "lion": lambda lr: lion(lr),
    "sign_sgd": sign_sgd,
    "signum": signum,
    "rprop": rprop,
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_bfloat16_params_give_bfloat16_updates_and_state(name):
    params = nested_params(jnp.bfloat16)
    tx = ALIASES[name](0.01)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for _ in range(2):
        u, state = update(params, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(state) if x.shape != ())


@pytest.mark.parametrize(
    "make",
    [
        lambda: lion(0.01, weight_decay=0.0),
        lambda: sign_sgd(0.01),
        lambda: signum(0.01),
        lambda: rprop(0.01),
    ],
    ids=["lion", "sign_sgd", "signum", "rprop"],
)
def test_zero_gradients_leave_the_params_unchanged(make):
    params = nested_params()
    got, _ = run(make(), params, steps=20, loss_fn=lambda p: 0.0 * convex_loss(p))
    assert_trees_close(got, params, rtol=0, atol=0)
