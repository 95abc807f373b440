"""Property tests over random pytrees (hypothesis)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gdjax

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]

OPTIMIZERS = {
    "sgd": lambda: gdjax.sgd(0.1),
    "momentum": lambda: gdjax.sgd(0.1, momentum=0.9),
    "nesterov": lambda: gdjax.sgd(0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda: gdjax.adagrad(0.1),
    "rmsprop": lambda: gdjax.rmsprop(0.01),
    "rmsprop-centered": lambda: gdjax.rmsprop(0.01, centered=True, momentum=0.5),
    "adadelta": lambda: gdjax.adadelta(),
    "adam": lambda: gdjax.adam(0.01),
    "adamw": lambda: gdjax.adamw(0.01),
    "nadam": lambda: gdjax.nadam(0.01),
    "amsgrad": lambda: gdjax.amsgrad(0.01),
    "adamax": lambda: gdjax.adamax(0.01),
    "noisy_sgd": lambda: gdjax.noisy_sgd(0.01),
    "clipped": lambda: gdjax.chain(gdjax.clip_by_global_norm(1.0), gdjax.sgd(0.1)),
}


@st.composite
def arrays(draw):
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    values = np.random.default_rng(seed).normal(size=shape)
    return jnp.asarray(values, dtype)


pytrees = st.recursive(
    arrays(),
    lambda children: st.one_of(
        st.dictionaries(st.text("abcdef", min_size=1, max_size=3), children, max_size=3),
        st.lists(children, max_size=3),
        st.tuples(children, children),
    ),
    max_leaves=6,
)

common = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _grads_like(params, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), x.dtype), params)


@common
@given(name=st.sampled_from(sorted(OPTIMIZERS)), params=pytrees, seed=st.integers(0, 1000))
def test_updates_keep_every_leaf_shape_and_dtype(name, params, seed):
    tx = OPTIMIZERS[name]()
    state = tx.init(params)
    for step in range(2):
        updates, state = tx.update(_grads_like(params, seed + step), state, params)
        assert jax.tree.structure(updates) == jax.tree.structure(params)
        for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
            assert u.shape == p.shape and u.dtype == p.dtype
        new = gdjax.apply_updates(params, updates)
        for n, p in zip(jax.tree.leaves(new), jax.tree.leaves(params), strict=True):
            assert n.shape == p.shape and n.dtype == p.dtype


@common
@given(name=st.sampled_from(sorted(OPTIMIZERS)), params=pytrees, seed=st.integers(0, 1000))
def test_chaining_identity_changes_nothing(name, params, seed):
    tx = OPTIMIZERS[name]()
    with_identity = gdjax.chain(tx, gdjax.identity())
    state, state_i = tx.init(params), with_identity.init(params)
    for step in range(3):
        grads = _grads_like(params, seed + step)
        u, state = tx.update(grads, state, params)
        ui, state_i = with_identity.update(grads, state_i, params)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(ui), strict=True):
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


@common
@given(
    name=st.sampled_from(
        ["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "adadelta", "adamax"]
    ),
    params=pytrees,
)
def test_zero_gradients_leave_params_unchanged(name, params):
    tx = OPTIMIZERS[name]()
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    current = params
    for _ in range(3):
        updates, state = tx.update(zeros, state, current)
        current = gdjax.apply_updates(current, updates)
    for a, b in zip(jax.tree.leaves(current), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
