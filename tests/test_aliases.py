"""Every optimizer alias as optax's own alias tests would hold it (issue 12).

The explicit-sharding side of optax's checks lives in
``tests/distributed/test_explicit_sharding.py``. Here, for each alias the
issue names (plus rmsprop with both ``centered`` and ``momentum``):

* ``update`` accepts keyword arguments it has no use for (``value=...`` as a
  line search passes it, and an arbitrary other name), eagerly and under ``jit``;
* dtype stability, from float16 to complex128: after a jitted ``update`` the
  updates, and every params-shaped state leaf, keep their param's dtype, and a
  second jitted step, given the state the first returned, reuses the compiled
  program (the step is traced once);
* the state has the same tree structure and the same leaf types (shape, dtype,
  weak type) after ``init`` (eager and jitted) and after ``update``, so it can be
  the carry of ``lax.cond``/``lax.scan`` without a cast.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from tests.helpers import OPTIMIZER_PAIRS

# The aliases the issue names; OPTIMIZER_PAIRS holds gdjax's constructor first.
_NAMED = (
    "sgd momentum nesterov adagrad rmsprop rmsprop-centered adadelta adam nadam amsgrad "
    "adamw adamax noisy_sgd"
).split()
ALIASES = {name: OPTIMIZER_PAIRS[name][0] for name in _NAMED}
ALIASES["rmsprop-centered-momentum"] = lambda: gdjax.rmsprop(0.01, centered=True, momentum=0.9)

DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128")

# Leaves of distinct shapes, so that a state leaf's shape names its param.
_SHAPES = {"a": (3,), "b": (2, 2)}

# Aliases whose state holds nothing shaped like the params.
_NO_MOMENTS = ("sgd", "noisy_sgd")


def _params(dtype):
    return {
        "a": jnp.array([1.0, -2.0, 0.5], dtype),
        "b": jnp.array([[0.25, -1.0], [2.0, 0.75]], dtype),
    }


def _grads(params):
    """The gradient of ``sum |x|**2``, conjugated for complex params (as optax does)."""

    def loss(p):
        return sum(jnp.sum(jnp.abs(x) ** 2) for x in jax.tree.leaves(p))

    g = jax.grad(loss)(params)
    return jax.tree.map(lambda x, q: jnp.conj(x).astype(q.dtype), g, params)


def _types(tree):
    return jax.tree.map(jax.typeof, tree)


@pytest.mark.parametrize("name", ALIASES)
def test_update_accepts_extra_keyword_arguments(name):
    opt = ALIASES[name]()
    params = _params(jnp.float32)
    extra = {"value": jnp.float32(1.5), "unexpected_extra_argument": 1}

    # Eagerly.
    state = opt.init(params)
    updates, state = opt.update(_grads(params), state, params, **extra)
    assert all(np.isfinite(np.asarray(u)).all() for u in jax.tree.leaves(updates))

    # Under jit, the extra arguments traced (value) and static (closed over).
    @jax.jit
    def step(params, state, value):
        updates, state = opt.update(
            _grads(params), state, params, value=value, unexpected_extra_argument=1
        )
        return gdjax.apply_updates(params, updates), state

    state = opt.init(params)
    for _ in range(2):
        params, state = step(params, state, jnp.float32(1.5))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALIASES)
def test_dtype_stability_and_no_recompilation(name, dtype):
    with jax.enable_x64(dtype in ("float64", "complex128")):
        dtype = jnp.dtype(dtype)
        opt = ALIASES[name]()
        params = _params(dtype)
        traces = []

        @jax.jit
        def step(params, state):
            traces.append(None)  # runs once per trace, not per call
            updates, state = opt.update(_grads(params), state, params)
            return updates, state

        state0 = opt.init(params)
        updates, state1 = step(params, state0)
        updates2, state2 = step(params, state1)
        assert len(traces) == 1, f"{name} retraced its step on the second call"

        for u in (updates, updates2):
            assert jax.tree.map(lambda x: x.dtype, u) == jax.tree.map(lambda x: x.dtype, params)
        for state in (state0, state1, state2):
            shaped = [
                leaf
                for leaf in jax.tree.leaves(state)
                if getattr(leaf, "shape", None) in _SHAPES.values()
            ]
            assert shaped or name in _NO_MOMENTS, "expected params-shaped state leaves"
            for leaf in shaped:
                assert leaf.dtype == dtype, (name, leaf.shape, leaf.dtype)


@pytest.mark.parametrize("name", ALIASES)
def test_state_structure_and_types_stable(name):
    opt = ALIASES[name]()
    params = _params(jnp.float32)
    eager = opt.init(params)
    jitted = jax.jit(opt.init)(params)
    _, after = jax.jit(opt.update)(_grads(params), eager, params)
    _, after_eager = opt.update(_grads(params), eager, params)

    structure = jax.tree.structure(eager)
    types = _types(eager)
    for state in (jitted, after, after_eager):
        assert jax.tree.structure(state) == structure
        assert _types(state) == types  # shape, dtype and weak type, leaf by leaf

    # Both branches of a cond must have one type: init's state and update's
    # state are interchangeable as a carry.
    chosen = jax.jit(lambda c, a, b: jax.lax.cond(c, lambda: a, lambda: b))(True, eager, after)
    assert _types(chosen) == types
