import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

# (gdjax transform, the optax transform with the same numbers); each is chained
# with scale(-lr) into a descent and run 300 steps on a nested pytree.
PARITY = {
    "adagrad-defaults": (lambda: gdjax.scale_by_adagrad(), lambda: optax.scale_by_rss()),
    "adagrad-custom": (
        lambda: gdjax.scale_by_adagrad(initial_accumulator_value=0.5, eps=1e-4),
        lambda: optax.scale_by_rss(initial_accumulator_value=0.5, eps=1e-4),
    ),
    "rms-defaults": (lambda: gdjax.scale_by_rms(), lambda: optax.scale_by_rms()),
    "rms-custom": (
        lambda: gdjax.scale_by_rms(0.8, 1e-5, 0.3, eps_in_sqrt=False, bias_correction=True),
        lambda: optax.scale_by_rms(0.8, 1e-5, 0.3, eps_in_sqrt=False, bias_correction=True),
    ),
    "rms-centered": (
        lambda: gdjax.scale_by_rms(centered=True),
        lambda: optax.scale_by_stddev(),
    ),
    "rms-centered-custom": (
        lambda: gdjax.scale_by_rms(0.95, 1e-4, 0.1, False, centered=True, bias_correction=True),
        lambda: optax.scale_by_stddev(0.95, 1e-4, 0.1, False, bias_correction=True),
    ),
    "adadelta-defaults": (lambda: gdjax.scale_by_adadelta(), lambda: optax.scale_by_adadelta()),
    "adadelta-custom": (
        lambda: gdjax.scale_by_adadelta(rho=0.95, eps=1e-4),
        lambda: optax.scale_by_adadelta(rho=0.95, eps=1e-4),
    ),
    "adam-defaults": (lambda: gdjax.scale_by_adam(), lambda: optax.scale_by_adam()),
    "adam-custom": (
        lambda: gdjax.scale_by_adam(0.8, 0.99, 1e-6, 1e-9),
        lambda: optax.scale_by_adam(0.8, 0.99, 1e-6, 1e-9),
    ),
    "adam-nesterov": (
        lambda: gdjax.scale_by_adam(nesterov=True),
        lambda: optax.scale_by_adam(nesterov=True),
    ),
    "adam-amsgrad": (
        lambda: gdjax.scale_by_adam(0.85, 0.99, amsgrad=True),
        lambda: optax.scale_by_amsgrad(0.85, 0.99),
    ),
    "adamax-defaults": (lambda: gdjax.scale_by_adamax(), lambda: optax.scale_by_adamax()),
    "adamax-custom": (
        lambda: gdjax.scale_by_adamax(0.8, 0.95, 1e-5),
        lambda: optax.scale_by_adamax(0.8, 0.95, 1e-5),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    lr = 1.0 if name.startswith("adadelta") else 0.01
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-lr)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-lr)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def _numpy_rms(grads, decay, eps, eps_in_sqrt, centered):
    """An independent reference: the RMSProp recursion written out in NumPy float64."""
    v = np.zeros_like(grads[0])
    m = np.zeros_like(grads[0])
    out = []
    for g in grads:
        v = decay * v + (1 - decay) * g**2
        m = decay * m + (1 - decay) * g
        s = v - m**2 if centered else v
        out.append(g / np.sqrt(s + eps) if eps_in_sqrt else g / (np.sqrt(s) + eps))
    return np.array(out)


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
@pytest.mark.parametrize("centered", [False, True])
def test_rms_follows_the_written_recursion(eps_in_sqrt, centered):
    grads = np.random.default_rng(0).normal(size=(50, 6))
    tx = gdjax.scale_by_rms(0.9, 1e-6, eps_in_sqrt=eps_in_sqrt, centered=centered)
    state = tx.init(jnp.zeros(6))
    got = []
    for g in grads:
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        got.append(u)
    want = _numpy_rms(grads, 0.9, 1e-6, eps_in_sqrt, centered)
    np.testing.assert_allclose(np.array(got), want, rtol=2e-4)


def test_adagrad_eps_outside_the_root_follows_the_recursion():
    grads = np.random.default_rng(1).normal(size=(40, 5))
    tx = gdjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)
    state = tx.init(jnp.zeros(5))
    r = np.zeros(5)
    for g in grads:
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        r = r + g**2
        np.testing.assert_allclose(u, g / (np.sqrt(r) + 1e-10), rtol=1e-5)


def test_adagrad_gives_zero_where_nothing_accumulated():
    tx = gdjax.scale_by_adagrad(initial_accumulator_value=0.0, eps=0.0)
    u, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(u, 0.0)


def test_centered_rms_never_takes_the_root_of_a_negative_variance():
    # A constant gradient makes v - m**2 zero in exact arithmetic; rounding can push
    # it below zero. The clip keeps the update finite.
    tx = gdjax.scale_by_rms(0.9, eps=1e-12, eps_in_sqrt=False, centered=True)
    g = jnp.full((64,), 0.3712, jnp.float32) * jnp.linspace(1, 3, 64)
    state = tx.init(g)
    for _ in range(200):
        u, state = tx.update(g, state)
        assert np.isfinite(np.asarray(u)).all()


@pytest.mark.parametrize(
    "factory",
    [
        gdjax.scale_by_adagrad,
        gdjax.scale_by_rms,
        lambda: gdjax.scale_by_rms(centered=True),
        gdjax.scale_by_adadelta,
        gdjax.scale_by_adam,
        lambda: gdjax.scale_by_adam(amsgrad=True, nesterov=True),
        gdjax.scale_by_adamax,
    ],
)
def test_zero_gradients_give_zero_finite_updates(factory):
    tx = factory()
    params = nested_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = tx.init(params)
    for _ in range(5):
        u, state = tx.update(zeros, state, params)
        for leaf in jax.tree.leaves(u):
            np.testing.assert_array_equal(np.asarray(leaf), 0.0)


def test_adam_mu_dtype_sets_the_first_moment_dtype_only():
    params = nested_params(jnp.bfloat16)
    tx = gdjax.scale_by_adam(mu_dtype=jnp.float32)
    state = tx.init(params)
    assert {x.dtype for x in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.float32)}
    assert {x.dtype for x in jax.tree.leaves(state.nu)} == {jnp.dtype(jnp.bfloat16)}
    u, state = tx.update(params, state)
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state.mu)} == {jnp.dtype(jnp.float32)}


def test_amsgrad_denominator_never_shrinks():
    tx = gdjax.scale_by_adam(amsgrad=True)
    state = tx.init(jnp.zeros(1))
    previous = 0.0
    for g in [5.0, 0.1, 0.1, 0.1, 3.0, 0.0]:
        _, state = tx.update(jnp.array([g]), state)
        assert float(state.nu_max[0]) >= previous
        previous = float(state.nu_max[0])


def test_flags_must_be_python_bools():
    with pytest.raises(ValueError, match="centered must be True or False"):
        gdjax.scale_by_rms(centered=jnp.array(True))
    with pytest.raises(ValueError, match="nesterov must be True or False"):
        gdjax.scale_by_adam(nesterov=1)


@pytest.mark.parametrize(
    "factory",
    [gdjax.scale_by_rms, gdjax.scale_by_adam, gdjax.scale_by_adamax, gdjax.scale_by_adadelta],
)
def test_float16_zero_gradients_do_not_divide_zero_by_zero(factory):
    # eps = 1e-8 underflows to 0 in float16; optax 0.2.8 returns NaN here.
    tx = factory()
    params = jnp.asarray([0.1, -2.0], jnp.float16)
    u, state = tx.update(jnp.zeros(2, jnp.float16), tx.init(params), params)
    assert u.dtype == jnp.float16
    np.testing.assert_array_equal(np.asarray(u, np.float32), 0.0)
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(state))
