"""Optimizer state in the params' sharding and dtype, on 8 host CPU devices.

Under an explicit-sharding mesh (``AxisType.Explicit``, ``jax.set_mesh``) an
array's sharding is part of its type, so a ``lax.scan`` over training steps
needs ``init``'s state to have exactly the type ``update`` returns. For every
optimizer alias this checks, in one subprocess (XLA's device-count flag must be
set before JAX starts):

* the state after ``init`` (eager and jitted) and after an ``update`` have equal
  types leaf by leaf (shape, dtype, sharding, weak type), and the updates have
  the params' types;
* every params-shaped state leaf has its param's sharding and dtype;
* ``jax.eval_shape(opt.init, params)`` gives the shapes, dtypes and shardings
  of a real ``init``;
* a jitted step compiles once: given the state from ``update``, it reuses the
  program compiled for the state from ``init``;
* a ``lax.scan`` training loop runs and stays finite.

A second script checks that ``init`` keeps the params' sharding on an
``AxisType.Auto`` mesh too (outside ``jit``).
"""

import json

import pytest

from tests.helpers import OPTIMIZER_PAIRS, run_python

# The aliases the issue names; OPTIMIZER_PAIRS (all of gdjax's aliases) must hold them.
REQUIRED = (
    "sgd momentum nesterov adagrad rmsprop rmsprop-centered adadelta adam nadam amsgrad "
    "adamw adamax noisy_sgd"
).split()

EXPLICIT = r"""
import json, sys
import jax, jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import gdjax
from tests.helpers import OPTIMIZER_PAIRS

assert jax.device_count() == 8, jax.devices()
mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Explicit,))
jax.set_mesh(mesh)

# Leaves sharded along different dimensions, one replicated, one bfloat16. The
# replicated one is placed as P(None), the spelling jit gives its outputs: placed
# as P(), its state would be too (as in optax), and P() != P(None) in jit's cache.
params = {
    "w": jax.device_put(jnp.linspace(-1, 1, 32, dtype=jnp.float32).reshape(8, 4), P("x", None)),
    "v": jax.device_put(jnp.linspace(0, 1, 64, dtype=jnp.float32).reshape(4, 16), P(None, "x")),
    "b": jax.device_put(jnp.array([0.1, -0.2, 0.3], jnp.float32), P(None)),
    "h": jax.device_put(jnp.linspace(-2, 2, 16, dtype=jnp.bfloat16), P("x")),
}


def loss(p):
    return sum(jnp.sum(0.5 * x.astype(jnp.float32) ** 2 + jnp.sin(x.astype(jnp.float32)))
               for x in jax.tree.leaves(p))


def spec(x):
    # A leaf's layout as a tuple of mesh axes per dimension; no sharding is replicated.
    s = getattr(x, "sharding", None)
    if s is None:
        return (None,) * x.ndim
    assert isinstance(s, NamedSharding), s
    assert tuple(s.mesh.axis_names) == ("x",), s
    return tuple(s.spec) + (None,) * (x.ndim - len(s.spec))


def types(tree):
    return [str(jax.typeof(x)) + ("~weak" if jax.typeof(x).weak_type else "")
            for x in jax.tree.leaves(tree)]


def layout(tree):
    return [(tuple(x.shape), str(x.dtype), spec(x)) for x in jax.tree.leaves(tree)]


by_shape = {tuple(x.shape): (str(x.dtype), spec(x)) for x in jax.tree.leaves(params)}
results = {}
for name in sys.argv[1:]:
    tx = OPTIMIZER_PAIRS[name][0]()
    state = tx.init(params)
    jitted_state = jax.jit(tx.init)(params)
    abstract = jax.eval_shape(tx.init, params)
    grads = jax.grad(loss)(params)

    def step(p, s):
        updates, s = tx.update(jax.grad(loss)(p), s, p)
        return gdjax.apply_updates(p, updates), s, updates

    # The same params with init's state, then with update's: one program for both.
    jstep = jax.jit(step)
    p1, s1, u1 = jstep(params, state)
    _, s2, u2 = jstep(params, s1)

    def body(carry, _):
        p, s, _ = step(*carry)
        return (p, s), loss(p)

    (pn, sn), losses = jax.jit(lambda p, s: jax.lax.scan(body, (p, s), None, length=4))(
        params, state)

    params_leaves = [
        (tuple(x.shape), str(x.dtype), spec(x)) for x in jax.tree.leaves(state)
        if tuple(x.shape) in by_shape
    ]
    results[name] = {
        "init_vs_update": types(state) == types(s1),
        "init_vs_second_update": types(state) == types(s2),
        "jit_init_vs_init": types(jitted_state) == types(state),
        "updates_vs_params": types(u1) == types(params) == types(u2),
        "params_after_step": types(p1) == types(params),
        "state_like_params": all(by_shape[shape] == (dtype, sp)
                                 for shape, dtype, sp in params_leaves),
        "params_shaped_leaves": len(params_leaves),
        "eval_shape_vs_init": layout(abstract) == layout(state),
        "compiles": jstep._cache_size(),
        "scan_state_vs_init": types(sn) == types(state),
        "scan_finite": bool(jnp.all(jnp.isfinite(losses))),
        "detail": {"init": types(state), "update": types(s1), "eval_shape": str(layout(abstract)),
                   "init_layout": str(layout(state))},
    }
print(json.dumps(results))
"""

AUTO = r"""
import jax, jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
from tests.helpers import OPTIMIZER_PAIRS

mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Auto,))
w = jax.device_put(jnp.ones((8, 4), jnp.bfloat16), NamedSharding(mesh, P("x", None)))
for name in ("momentum", "adagrad", "rmsprop-centered", "adadelta", "adam", "amsgrad", "adamax"):
    state = OPTIMIZER_PAIRS[name][0]().init({"w": w})
    leaves = [x for x in jax.tree.leaves(state) if x.shape == w.shape]
    assert leaves, name
    for x in leaves:
        assert x.dtype == w.dtype, (name, x.dtype)
        assert x.sharding.is_equivalent_to(w.sharding, 2), (name, x.sharding)
print("auto ok")
"""


@pytest.fixture(scope="module")
def explicit_results():
    names = [name for name in OPTIMIZER_PAIRS]
    return json.loads(run_python("-c", EXPLICIT, *names, devices=8, timeout=900))


def test_every_named_alias_is_covered():
    assert set(REQUIRED) <= set(OPTIMIZER_PAIRS)


@pytest.mark.parametrize("name", list(OPTIMIZER_PAIRS))
def test_state_keeps_params_types_under_explicit_sharding(explicit_results, name):
    result = explicit_results[name]
    detail = result.pop("detail")
    assert result == {
        "init_vs_update": True,
        "init_vs_second_update": True,
        "jit_init_vs_init": True,
        "updates_vs_params": True,
        "params_after_step": True,
        "state_like_params": True,
        "params_shaped_leaves": result["params_shaped_leaves"],
        "eval_shape_vs_init": True,
        "compiles": 1,
        "scan_state_vs_init": True,
        "scan_finite": True,
    }, detail
    # Plain and noisy SGD keep no params-shaped state; every other alias keeps some.
    assert (result["params_shaped_leaves"] == 0) == (name in ("sgd", "noisy_sgd")), result


def test_init_keeps_params_sharding_on_auto_mesh():
    assert "auto ok" in run_python("-c", AUTO, devices=8)
