import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms import clipping
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: gdjax.clip(0.5), lambda: optax.clip(0.5)),
        (lambda: gdjax.clip_by_global_norm(1.0), lambda: optax.clip_by_global_norm(1.0)),
    ],
)
def test_matches_optax_over_300_steps(ours, theirs):
    params = nested_params()
    got, _ = run(gdjax.chain(ours(), gdjax.scale(-0.05)), params)
    want, _ = run(optax.chain(theirs(), optax.scale(-0.05)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_clip_bounds_every_coordinate():
    u, _ = gdjax.clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), gdjax.EmptyState())
    np.testing.assert_array_equal(u, [-1.0, 0.5, 1.0])


def test_clip_by_global_norm_rescales_only_large_updates():
    tx = gdjax.clip_by_global_norm(5.0)
    small = {"a": jnp.array([3.0]), "b": jnp.array([3.0])}
    np.testing.assert_array_equal(tx.update(small, tx.init(small))[0]["a"], [3.0])
    large = {"a": jnp.array([30.0]), "b": jnp.array([40.0])}
    u, _ = tx.update(large, tx.init(large))
    np.testing.assert_allclose([u["a"][0], u["b"][0]], [3.0, 4.0], rtol=1e-6)


# --------------------------------------------------------------------------- newer clippings

# name: (ours, optax's): defaults and other arguments
CLIPPINGS = {
    "block-rms": (
        lambda: clipping.clip_by_block_rms(1.0),
        lambda: optax.clip_by_block_rms(1.0),
    ),
    "block-rms-tight": (
        lambda: clipping.clip_by_block_rms(0.3),
        lambda: optax.clip_by_block_rms(0.3),
    ),
    "agc": (
        lambda: clipping.adaptive_grad_clip(0.05),
        lambda: optax.adaptive_grad_clip(0.05),
    ),
    "agc-eps": (
        lambda: clipping.adaptive_grad_clip(0.2, eps=0.5),
        lambda: optax.adaptive_grad_clip(0.2, eps=0.5),
    ),
    "normalize": (
        lambda: clipping.normalize_by_update_norm(),
        lambda: optax.normalize_by_update_norm(),
    ),
    "normalize-scaled": (
        lambda: clipping.normalize_by_update_norm(0.3, 1e-2),
        lambda: optax.normalize_by_update_norm(0.3, 1e-2),
    ),
}


@pytest.mark.parametrize("name", list(CLIPPINGS))
def test_newer_clippings_match_optax_over_300_steps(name):
    ours, theirs = CLIPPINGS[name]
    params = nested_params()
    got, state = run(gdjax.chain(ours(), gdjax.scale(-0.05)), params)
    want, their_state = run(optax.chain(theirs(), optax.scale(-0.05)), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert [type(s).__name__ for s in state] == ["EmptyState", "EmptyState"]
    assert jax.tree.leaves(state) == jax.tree.leaves(their_state) == []


@pytest.mark.parametrize("name", list(CLIPPINGS))
def test_newer_clippings_clip_at_every_step_like_optax(name):
    # The transformation's own outputs, step by step, on gradients large and small.
    ours, theirs = CLIPPINGS[name]
    params = nested_params()
    ours, theirs = ours(), theirs()
    state, their_state = ours.init(params), theirs.init(params)
    update, their_update = jax.jit(ours.update), jax.jit(theirs.update)
    for size in (100.0, 1.0, 0.01, 3.0):
        grads = jax.tree.map(lambda p, s=size: s * jnp.sin(7.0 * p + s), params)
        got, state = update(grads, state, params)
        want, their_state = their_update(grads, their_state, params)
        assert_trees_close(got, want, rtol=1e-6)
        params = jax.tree.map(lambda p, u: p - 0.1 * u, params, got)


def test_block_rms_clips_only_the_large_blocks():
    tx = clipping.clip_by_block_rms(1.0)
    updates = {"small": jnp.array([0.5, -0.5]), "large": jnp.array([3.0, -4.0, 0.0, 0.0])}
    out, _ = tx.update(updates, tx.init(updates))
    np.testing.assert_array_equal(out["small"], updates["small"])
    np.testing.assert_allclose(out["large"], updates["large"] / 2.5, rtol=1e-6)  # rms 2.5


def test_adaptive_grad_clip_units_and_axis_match_optax():
    # A matrix has one unit per column; axis=(0, 1) makes the whole matrix one unit; a
    # rank-4 kernel one unit per output channel.
    k = jax.random.split(jax.random.key(0), 4)
    params = {"w": jax.random.normal(k[0], (4, 3)), "conv": jax.random.normal(k[1], (2, 2, 3, 2))}
    grads = {"w": jax.random.normal(k[2], (4, 3)), "conv": jax.random.normal(k[3], (2, 2, 3, 2))}
    for axis in (None, (0, 1), -1):
        if axis == -1:
            params, grads = params["w"], grads["w"]
        ours = clipping.adaptive_grad_clip(0.3, axis=axis)
        theirs = optax.adaptive_grad_clip(0.3, axis=axis)
        got, _ = jax.jit(ours.update)(grads, ours.init(params), params)
        want, _ = jax.jit(theirs.update)(grads, theirs.init(params), params)
        assert_trees_close(got, want, rtol=1e-6)
        assert not np.allclose(jax.tree.leaves(got)[0], jax.tree.leaves(grads)[0])
    assert jax.tree.leaves(clipping.adaptive_grad_clip(0.3, axis=(0, 1))) == [0.3, 1e-3]


def test_adaptive_grad_clip_needs_the_params_and_known_ranks():
    tx = clipping.adaptive_grad_clip(0.1)
    g = {"w": jnp.ones((2, 2))}
    with pytest.raises(ValueError, match="adaptive_grad_clip needs the params"):
        tx.update(g, tx.init(g))
    deep = jnp.ones((1, 2, 1, 2, 1, 2))
    with pytest.raises(ValueError, match=r"shape \(1, 2, 1, 2, 1, 2\); pass axis="):
        tx.update(deep, tx.init(deep), deep)


@pytest.mark.parametrize(
    "build,message,value",
    [
        (lambda: clipping.clip_by_block_rms(0.0), r"clip_by_block_rms: threshold ", 0.0),
        (lambda: clipping.clip_by_block_rms(-1.0), r"clip_by_block_rms: threshold ", -1.0),
        (lambda: clipping.adaptive_grad_clip(-0.1), r"adaptive_grad_clip: clipping ", -0.1),
        (lambda: clipping.adaptive_grad_clip(0.1, -1e-3), r"adaptive_grad_clip: eps ", -1e-3),
        (lambda: clipping.adaptive_grad_clip(0.1, axis=1.5), r"adaptive_grad_clip: axis ", 1.5),
        (
            lambda: clipping.normalize_by_update_norm(float("nan")),
            r"normalize_by_update_norm: scale_factor ",
            float("nan"),
        ),
        (
            lambda: clipping.normalize_by_update_norm(1.0, -1.0),
            r"normalize_by_update_norm: eps ",
            -1.0,
        ),
    ],
)
def test_newer_clippings_refuse_bad_arguments_by_name(build, message, value):
    with pytest.raises(ValueError, match="^" + message) as error:
        build()
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("name", list(CLIPPINGS))
def test_newer_clippings_keep_bfloat16(name):
    params = nested_params(jnp.bfloat16)
    tx = CLIPPINGS[name][0]()
    grads = jax.tree.map(lambda p: 10.0 * p, params)
    out, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    assert all(u.dtype == jnp.bfloat16 for u in jax.tree.leaves(out))
    assert all(np.isfinite(np.asarray(u, np.float32)).all() for u in jax.tree.leaves(out))


@pytest.mark.parametrize("name", list(CLIPPINGS))
def test_newer_clippings_leave_zero_gradients_zero(name):
    params = nested_params()
    got, _ = run(gdjax.chain(CLIPPINGS[name][0](), gdjax.scale(-0.05)), params, 5, _flat)
    assert_trees_close(got, params, rtol=0, atol=0)


def _flat(params):
    return 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(params))


# name: (factory of the swept argument, two values)
SWEEPS = {
    "block-rms": (lambda v: clipping.clip_by_block_rms(v), [0.2, 1.0]),
    "agc": (lambda v: clipping.adaptive_grad_clip(v), [0.01, 0.1]),
    "normalize": (lambda v: clipping.normalize_by_update_norm(v), [0.5, 2.0]),
}


@pytest.mark.parametrize("name", list(SWEEPS))
def test_newer_clippings_vmap_over_their_argument_inside_jit(name):
    factory, values = SWEEPS[name]
    params = nested_params()

    @jax.jit
    @jax.vmap
    def sweep(v):
        return run(gdjax.chain(factory(v), gdjax.scale(-0.05)), params, 20)[0]

    got = sweep(jnp.asarray(values))
    for i, v in enumerate(values):
        alone = run(gdjax.chain(factory(v), gdjax.scale(-0.05)), params, 20)[0]
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], got), alone, rtol=1e-5)
    first, second = (jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], got)) for i in (0, 1))
    assert not np.allclose(first[0], second[0])


@pytest.mark.parametrize(
    "name",
    [
        *("adaptive_grad_clip", "clip_by_block_rms", "normalize_by_update_norm"),
        *("per_example_global_norm_clip", "per_example_layer_norm_clip"),
    ],
)
def test_newer_clippings_have_optax_signatures(name):
    def signature(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert signature(getattr(clipping, name)) == signature(getattr(optax, name))


# --------------------------------------------------------------------------- per example


@functools.cache
def _per_example_grads(batch=5):
    """A batch of gradients shaped like nested_params, of different sizes per leaf; example
    2 is zero (a zero gradient is never clipped: 0/0 is not a clip)."""
    leaves, treedef = jax.tree.flatten(nested_params())
    rng = np.random.default_rng(7)
    grads = []
    for i, p in enumerate(leaves):
        g = (i + 1.0) * rng.standard_normal((batch, *jnp.shape(p)), np.float32)
        g[2 % batch] = 0.0
        grads.append(jnp.asarray(g))
    return jax.tree.unflatten(treedef, grads)


# Jitted (the bound is data): one compilation each instead of an eager one per operation.
_global_clip = jax.jit(clipping.per_example_global_norm_clip)
_their_global_clip = jax.jit(optax.per_example_global_norm_clip)
_layer_clip = jax.jit(clipping.per_example_layer_norm_clip, static_argnums=2)
_their_layer_clip = jax.jit(optax.per_example_layer_norm_clip, static_argnums=2)


@pytest.mark.parametrize("bound", [0.0, 0.5, 5.0, 50.0, float("inf")])
def test_per_example_global_norm_clip_matches_optax(bound):
    grads = _per_example_grads()
    got, clipped = _global_clip(grads, bound)
    want, their_clipped = _their_global_clip(grads, bound)
    assert_trees_close(got, want, rtol=1e-6)
    assert int(clipped) == int(their_clipped)
    assert clipped.dtype == their_clipped.dtype


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("bound", [0.0, 1.0, 10.0, float("inf")])
def test_per_example_layer_norm_clip_matches_optax(uniform, bound):
    grads = _per_example_grads()
    got, clipped = _layer_clip(grads, bound, uniform)
    want, their_clipped = _their_layer_clip(grads, bound, uniform)
    assert_trees_close(got, want, rtol=1e-6)
    assert jax.tree.structure(clipped) == jax.tree.structure(grads)
    assert jax.tree.leaves(clipped) == [int(c) for c in jax.tree.leaves(their_clipped)]


def test_per_example_clipping_counts_and_bounds_each_example():
    grads = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0], [0.3, 0.4, 0.0]])]
    total, clipped = clipping.per_example_global_norm_clip(grads, 1.0)
    np.testing.assert_allclose(total[0], [0.8 + 0.3, 0.6 + 0.4, 0.8 + 0.6], rtol=1e-6)
    assert int(clipped) == 2
    # Under jit with a traced bound, the same.
    again = jax.jit(clipping.per_example_global_norm_clip)(grads, 1.0)
    assert_trees_close(again[0], total)


def test_per_example_clipping_keeps_bfloat16_and_needs_a_batch_axis():
    grads = jax.tree.map(lambda g: g.astype(jnp.bfloat16), _per_example_grads())
    total, _ = _global_clip(grads, 1.0)
    layered, _ = _layer_clip(grads, 1.0, True)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((total, layered)))
    ragged = {"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}
    for fn in (clipping.per_example_global_norm_clip, clipping.per_example_layer_norm_clip):
        with pytest.raises(ValueError, match="batch"):
            fn(ragged, 1.0)
        with pytest.raises(ValueError, match="batch"):
            fn({"scalar": jnp.ones(())}, 1.0)


@pytest.mark.parametrize(
    "call,message,value",
    [
        (
            lambda g: clipping.per_example_global_norm_clip(g, -1.0),
            "per_example_global_norm_clip: l2_norm_clip ",
            -1.0,
        ),
        (
            lambda g: clipping.per_example_layer_norm_clip(g, -2.0),
            "per_example_layer_norm_clip: global_l2_norm_clip ",
            -2.0,
        ),
    ],
)
def test_per_example_clipping_refuses_a_negative_bound(call, message, value):
    with pytest.raises(ValueError, match="^" + message) as error:
        call({"a": jnp.ones((2, 3))})
    assert repr(value) in str(error.value)
