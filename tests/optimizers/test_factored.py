import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.optimizers.factored import adafactor, sm3
from tests.helpers import assert_moved, assert_trees_close, convex_loss, nested_params, run


def big_params():
    """``nested_params`` plus a (130, 128) matrix, which the default
    ``min_dim_size_to_factor=128`` factors, and a rank-3 leaf."""
    k = jax.random.split(jax.random.key(7), 2)
    params = nested_params()
    params["big"] = 0.5 * jax.random.normal(k[0], (130, 128))
    params["conv"] = jax.random.normal(k[1], (3, 5, 4))
    return params


def no_scalars(params):
    """optax's sm3 fails on 0-d leaves (IndexError): drop them to compare."""
    return {k: v for k, v in params.items() if k != "scale"}


def _only_big(params):
    return jax.tree.map(lambda x: x.ndim == 2 and x.shape[0] > 100, params)


PARITY = {
    "adafactor-defaults": (lambda o: o.adafactor(), big_params, 100),
    "adafactor-rate": (lambda o: o.adafactor(0.05), nested_params, 300),
    "adafactor-custom": (
        lambda o: o.adafactor(
            0.02,
            min_dim_size_to_factor=2,
            decay_rate=0.7,
            multiply_by_parameter_scale=False,
            clipping_threshold=0.5,
            momentum=0.8,
            dtype_momentum=jnp.float32,
            weight_decay_rate=1e-3,
            eps=1e-20,
        ),
        big_params,
        300,
    ),
    "adafactor-unfactored-masked": (
        lambda o: o.adafactor(
            0.03,
            clipping_threshold=None,
            weight_decay_rate=0.01,
            factored=False,
            weight_decay_mask=_only_big,
        ),
        big_params,
        100,
    ),
    "sm3-defaults": (lambda o: o.sm3(0.05), lambda: no_scalars(big_params()), 300),
    "sm3-custom": (lambda o: o.sm3(0.1, momentum=0.5), lambda: no_scalars(big_params()), 300),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax(name):
    build, make, steps = PARITY[name]
    params = make()
    got, got_state = run(build(gdjax.optimizers.factored), params, steps=steps)
    want, want_state = run(build(optax), params, steps=steps)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The same states, field by field (the state classes are gdjax's own).
    flat = jax.tree_util.tree_flatten_with_path
    got_paths = [(jax.tree_util.keystr(p), x) for p, x in flat(got_state)[0]]
    want_paths = [(jax.tree_util.keystr(p), x) for p, x in flat(want_state)[0]]
    assert [p for p, _ in got_paths] == [p for p, _ in want_paths]
    assert_trees_close([x for _, x in got_paths], [x for _, x in want_paths])


def test_decay_offset_matches_optax():
    params = nested_params()
    grads = jax.tree.map(lambda x: jnp.cos(3 * x) + 0.1, params)
    ours = adafactor(0.1, min_dim_size_to_factor=2, decay_offset=4)
    theirs = optax.adafactor(0.1, min_dim_size_to_factor=2, decay_offset=4)
    state, other = ours.init(params), theirs.init(params)
    state = (state[0]._replace(count=jnp.int32(6)), *state[1:])
    other = (other[0]._replace(count=jnp.int32(6)), *other[1:])
    ours_update, theirs_update = jax.jit(ours.update), jax.jit(theirs.update)
    for _ in range(3):
        got, state = ours_update(grads, state, params)
        want, other = theirs_update(grads, other, params)
        assert_trees_close(got, want)


def test_sm3_takes_a_scalar_leaf():
    params = nested_params()  # optax's sm3 raises IndexError on its 0-d "scale"
    final, _ = run(sm3(0.05), params)
    assert_moved(params, final)
    assert convex_loss(final) < convex_loss(params)
    run(sm3(0.05, momentum=None), params, steps=5)  # None: no momentum


@pytest.mark.parametrize(
    "make", [lambda: adafactor(0.1, min_dim_size_to_factor=2, momentum=0.9), lambda: sm3(0.1)]
)
def test_bfloat16_params_give_bfloat16_updates(make):
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), big_params())
    opt = make()
    grads = jax.tree.map(lambda x: jnp.sin(x) + 0.3, params)
    updates, state = jax.jit(opt.update)(grads, opt.init(params), params)
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}
    assert all(jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(updates))
    dtypes = {x.dtype for x in jax.tree.leaves(state[0]) if x.ndim}
    assert dtypes == {jnp.dtype(jnp.bfloat16)}  # the second-moment statistics
    if len(state) > 4:  # adafactor's momentum is dtype_momentum (float32), as in optax
        assert {x.dtype for x in jax.tree.leaves(state[4].ema)} == {jnp.dtype(jnp.float32)}


@pytest.mark.parametrize(
    "make",
    [
        lambda: adafactor(),
        lambda: adafactor(0.1, min_dim_size_to_factor=2, momentum=0.9),
        lambda: sm3(0.1),
    ],
)
def test_zero_gradients_leave_params_unchanged(make):
    params = big_params()
    opt = make()
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = opt.init(params)
    for _ in range(2):
        updates, state = jax.jit(opt.update)(zeros, state, params)
        assert all(not jnp.any(x) for x in jax.tree.leaves(updates))


@pytest.mark.parametrize(
    "make, rates",
    [
        (lambda lr: adafactor(lr, min_dim_size_to_factor=2), (0.01, 0.1)),
        (lambda lr: sm3(lr), (0.01, 0.1)),
    ],
)
def test_vmap_over_the_learning_rate(make, rates):
    params = nested_params()

    @jax.jit
    def final(lr):
        return run(make(lr), params, steps=50)[0]

    both = jax.vmap(final)(jnp.asarray(rates))
    for i, lr in enumerate(rates):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], both), run(make(lr), params, 50)[0])


@pytest.mark.parametrize("make", [adafactor, sm3])
def test_a_schedule_works_where_the_rate_does(make):
    params = nested_params()
    schedule = gdjax.schedules.exponential_decay(0.1, 5, 0.5)
    sched, _ = run(make(schedule), params, steps=20, loss_fn=convex_loss)
    assert_moved(params, sched)

    # The same steps with the schedule's rates given one by one as numbers.
    @jax.jit
    def step(lr, p, state):
        u, state = make(lr).update(jax.grad(convex_loss)(p), state, p)
        return gdjax.apply_updates(p, u), state

    p, state = params, make(0.1).init(params)
    for t in range(20):
        p, state = step(schedule(t), p, state)
    assert_trees_close(sched, p)


ADAFACTOR_BAD = [
    ("learning_rate", -0.1),
    ("min_dim_size_to_factor", -1),
    ("min_dim_size_to_factor", 2.5),
    ("decay_rate", -0.8),
    ("decay_offset", -1),
    ("decay_offset", 0.5),
    ("multiply_by_parameter_scale", 1),
    ("clipping_threshold", 0.0),
    ("momentum", 1.0),
    ("weight_decay_rate", -1e-3),
    ("eps", -1e-30),
    ("factored", "yes"),
]


@pytest.mark.parametrize("name, value", ADAFACTOR_BAD)
def test_adafactor_refuses_bad_values(name, value):
    with pytest.raises(ValueError, match=re.escape(f"adafactor: {name} ")) as info:
        adafactor(**{name: value})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("name, value", [("learning_rate", -1.0), ("momentum", 1.5)])
def test_sm3_refuses_bad_values(name, value):
    kwargs = {"learning_rate": 0.1, name: value}
    with pytest.raises(ValueError, match=re.escape(f"sm3: {name} ")) as info:
        sm3(**kwargs)
    assert repr(value) in str(info.value)


# --------------------------------------------------------------------------- PyTorch
torch = pytest.importorskip("torch")


def _run_torch(ours, kwargs, params, steps=150):
    """``steps`` steps of gdjax and torch.optim.Adafactor on the same noisy gradients."""
    tensors = [
        torch.tensor(np.asarray(x), dtype=torch.float32, requires_grad=True)
        for x in jax.tree.leaves(params)
    ]
    theirs = torch.optim.Adafactor(tensors, **kwargs)
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step()
    return params, [t.detach().numpy() for t in tensors]


def torch_adafactor(lr=1e-2, beta2_decay=-0.8, d=1.0, weight_decay=0.0):
    """torch.optim.Adafactor(lr, beta2_decay, eps=(None, 1e-3), d, weight_decay) in gdjax.

    The two agree on vectors, 0-d tensors and matrices:

    * torch's step is relative: ``min(lr, 1/sqrt(t)) * max(1e-3, rms(x))``; the
      ``min`` is the schedule (``t`` counts from 1, gdjax's count from 0) and the
      parameter scale is ``multiply_by_parameter_scale`` (its floor is torch's
      eps2 = 1e-3 and adafactor's fixed 1e-3);
    * torch's ``beta2_t = 1 - t**beta2_decay`` is ``decay_rate = -beta2_decay``;
    * torch's update clipping ``d`` is ``clipping_threshold``;
    * torch decays ``x *= 1 - lr * weight_decay`` (decoupled, with the
      constant ``lr``); adafactor adds ``weight_decay_rate * x`` unscaled by the rate;
    * torch factors every tensor of rank >= 2: ``min_dim_size_to_factor=0``.

    What differs: torch factors a rank >= 3 tensor over its last two axes,
    adafactor over its two largest; torch floors the estimate at ``eps1**2``
    (eps1 = float32's machine epsilon) where adafactor adds ``eps = 1e-30`` to
    ``g**2``, which only matters for gradients below ~1e-7.
    """
    return adafactor(
        lambda t: jnp.minimum(lr, 1 / jnp.sqrt(t + 1.0)),
        min_dim_size_to_factor=0,
        decay_rate=-beta2_decay,
        clipping_threshold=d,
        weight_decay_rate=lr * weight_decay if weight_decay else None,
    )


TORCH = {
    "defaults": {},
    # lr = 0.3: the relative step 1/sqrt(t) takes over from step 12 on.
    "relative-step": {"lr": 0.3, "beta2_decay": -0.6, "d": 2.0, "weight_decay": 0.05},
}


@pytest.mark.parametrize("name", list(TORCH))
def test_adafactor_matches_pytorch(name):
    kwargs = TORCH[name]
    start = nested_params()
    got, want = _run_torch(torch_adafactor(**kwargs), kwargs, start)
    assert_moved(start, got)
    for a, b in zip(jax.tree.leaves(got), want, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)
