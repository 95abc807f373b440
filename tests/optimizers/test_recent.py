"""ADOPT, AdEMAMix, simplified AdEMAMix and Prodigy against optax.contrib 0.2.8."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gdjax
from gdjax.optimizers.recent import ademamix, adopt, prodigy, simplified_ademamix
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def _matrices(params):
    """A weight-decay mask shared by both libraries: the leaves with two axes or more."""
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _b3_warmup(count):
    return 0.9 + 0.099 * jnp.minimum(count / 100, 1.0)


def _alpha_warmup(count):
    return 8.0 * jnp.minimum(count / 150, 1.0)


def _bound(count):
    return 0.5 + 0.01 * count


# name -> (gdjax alias call, optax.contrib alias call) with the same arguments.
PARITY = {
    "adopt": (lambda: adopt(0.01), lambda: optax.contrib.adopt(0.01)),
    "adopt-custom": (
        lambda: adopt(0.02, 0.8, 0.99, 1e-5, nesterov=True, use_clipping=False),
        lambda: optax.contrib.adopt(0.02, 0.8, 0.99, 1e-5, nesterov=True, use_clipping=False),
    ),
    "adopt-clip-fn": (
        lambda: adopt(0.01, clip_value_fn=_bound),
        lambda: optax.contrib.adopt(0.01, clip_value_fn=_bound),
    ),
    "ademamix": (lambda: ademamix(0.01), lambda: optax.contrib.ademamix(0.01)),
    "ademamix-custom": (
        lambda: ademamix(0.005, 0.8, 0.99, 0.995, 3.0, 1e-6, 1e-9, None, 0.1, _matrices),
        lambda: optax.contrib.ademamix(
            0.005, 0.8, 0.99, 0.995, 3.0, 1e-6, 1e-9, None, 0.1, _matrices
        ),
    ),
    "ademamix-schedules": (
        lambda: ademamix(
            optax.linear_schedule(0.02, 0.001, 300), b3=_b3_warmup, alpha=_alpha_warmup
        ),
        lambda: optax.contrib.ademamix(
            optax.linear_schedule(0.02, 0.001, 300), b3=_b3_warmup, alpha=_alpha_warmup
        ),
    ),
    "simplified_ademamix": (
        lambda: simplified_ademamix(0.001),
        lambda: optax.contrib.simplified_ademamix(0.001),
    ),
    "simplified_ademamix-custom": (
        lambda: simplified_ademamix(0.002, 0.9, 0.99, _alpha_warmup, 1e-6, 1e-9, 0.05, _matrices),
        lambda: optax.contrib.simplified_ademamix(
            0.002, 0.9, 0.99, _alpha_warmup, 1e-6, 1e-9, 0.05, _matrices
        ),
    ),
    "prodigy": (lambda: prodigy(), lambda: optax.contrib.prodigy()),
    "prodigy-custom": (
        lambda: prodigy(0.8, (0.85, 0.99), 0.95, 1e-6, 1e-5, 2.0, 0.01),
        lambda: optax.contrib.prodigy(0.8, (0.85, 0.99), 0.95, 1e-6, 1e-5, 2.0, 0.01),
    ),
    "prodigy-schedule": (
        lambda: prodigy(
            optax.warmup_cosine_decay_schedule(0.0, 1.0, 30, 300),
            weight_decay=0.05,
            safeguard_warmup=True,
        ),
        lambda: optax.contrib.prodigy(
            optax.warmup_cosine_decay_schedule(0.0, 1.0, 30, 300),
            weight_decay=0.05,
            safeguard_warmup=True,
        ),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_contrib_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, got_state = run(ours(), params)
    want, want_state = run(theirs(), params)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The first state is the method's own (the rest are weight decay and the rate);
    # optax's prodigy is one transformation, not a chain.
    mine = got_state[0]
    their = want_state if name.startswith("prodigy") else want_state[0]
    assert type(mine)._fields == type(their)._fields
    assert_trees_close(tuple(mine), tuple(their))


ALIASES = {
    "adopt": (adopt, optax.contrib.adopt),
    "ademamix": (ademamix, optax.contrib.ademamix),
    "simplified_ademamix": (simplified_ademamix, optax.contrib.simplified_ademamix),
    "prodigy": (prodigy, optax.contrib.prodigy),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_signatures_are_optax_contribs(name):
    ours, theirs = ALIASES[name]
    mine = inspect.signature(ours).parameters.values()
    other = inspect.signature(theirs).parameters.values()
    assert [(p.name, p.kind) for p in mine] == [(p.name, p.kind) for p in other]
    for p, q in zip(mine, other, strict=True):
        if name == "adopt" and p.name == "clip_value_fn":
            # optax's default is a lambda, which no other function equals: gdjax's is
            # the module-level quarter_power, with the same values.
            np.testing.assert_allclose(p.default(jnp.arange(9)), q.default(jnp.arange(9)))
        else:
            assert p.default == q.default, p.name


# alias -> a call with a bad value: (kwargs, argument as reported, value)
BAD = [
    ("adopt", {"learning_rate": -0.1}, "learning_rate", -0.1),
    ("adopt", {"b1": 1.5}, "b1", 1.5),
    ("adopt", {"b2": -0.01}, "b2", -0.01),
    ("adopt", {"eps": -1e-6}, "eps", -1e-6),
    ("adopt", {"nesterov": 0}, "nesterov", 0),
    ("adopt", {"use_clipping": None}, "use_clipping", None),
    ("adopt", {"clip_value_fn": 2.0}, "clip_value_fn", 2.0),
    ("ademamix", {"learning_rate": -1.0}, "learning_rate", -1.0),
    ("ademamix", {"b1": 1.0}, "b1", 1.0),
    ("ademamix", {"b2": 1.2}, "b2", 1.2),
    ("ademamix", {"b3": 1.0001}, "b3", 1.0001),
    ("ademamix", {"alpha": -2.0}, "alpha", -2.0),
    ("ademamix", {"eps": -1.0}, "eps", -1.0),
    ("ademamix", {"eps_root": -1.0}, "eps_root", -1.0),
    ("ademamix", {"weight_decay": -0.1}, "weight_decay", -0.1),
    ("simplified_ademamix", {"learning_rate": -1.0}, "learning_rate", -1.0),
    ("simplified_ademamix", {"b1": 1.0}, "b1", 1.0),
    ("simplified_ademamix", {"b2": -0.5}, "b2", -0.5),
    ("simplified_ademamix", {"alpha": -1.0}, "alpha", -1.0),
    ("simplified_ademamix", {"eps": -1e-8}, "eps", -1e-8),
    ("simplified_ademamix", {"eps_root": -1e-8}, "eps_root", -1e-8),
    ("simplified_ademamix", {"weight_decay": -1e-3}, "weight_decay", -1e-3),
    ("prodigy", {"learning_rate": -1.0}, "learning_rate", -1.0),
    ("prodigy", {"betas": (1.0, 0.999)}, "betas", 1.0),
    ("prodigy", {"betas": (0.9, -0.1)}, "betas", -0.1),
    ("prodigy", {"betas": (0.9,)}, "betas", (0.9,)),
    ("prodigy", {"beta3": 1.5}, "beta3", 1.5),
    ("prodigy", {"eps": -1e-8}, "eps", -1e-8),
    ("prodigy", {"estim_lr0": 0.0}, "estim_lr0", 0.0),
    ("prodigy", {"estim_lr_coef": -1.0}, "estim_lr_coef", -1.0),
    ("prodigy", {"weight_decay": -0.1}, "weight_decay", -0.1),
    ("prodigy", {"safeguard_warmup": 1}, "safeguard_warmup", 1),
]


@pytest.mark.parametrize("name, kwargs, argument, value", BAD)
def test_bad_arguments_are_refused_in_the_aliass_words(name, kwargs, argument, value):
    factory = ALIASES[name][0]
    kwargs = {"learning_rate": 0.01, **kwargs}
    with pytest.raises(ValueError, match=f"^{name}: {argument}") as error:
        factory(**kwargs)
    assert repr(value) in str(error.value)


def test_prodigy_refuses_a_per_parameter_learning_rate():
    with pytest.raises(ValueError, match="^prodigy: learning_rate"):
        prodigy({"a": 1.0, "b": 0.5})


def _final(optimizer):
    return run(optimizer, nested_params(), steps=30)[0]


RATES = {"adopt": 0.01, "ademamix": 0.01, "simplified_ademamix": 0.001, "prodigy": 1.0}
FACTORIES = {
    "adopt": adopt,
    "ademamix": ademamix,
    "simplified_ademamix": simplified_ademamix,
    "prodigy": prodigy,
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_bfloat16_params_give_bfloat16_updates_and_state(name):
    params = nested_params(jnp.bfloat16)
    optimizer = FACTORIES[name](RATES[name])
    update = jax.jit(optimizer.update)
    state = optimizer.init(params)
    for _ in range(3):
        g = jax.tree.map(lambda p: (2 * p).astype(jnp.bfloat16), params)
        u, state = update(g, state, params)
        params = gdjax.apply_updates(params, u)
    structure = jax.tree.structure(params)
    for leaf in jax.tree.leaves((params, u)):
        assert leaf.dtype == jnp.bfloat16
    # Every params-shaped part of the state keeps the params' dtype.
    parts = jax.tree.leaves(state, is_leaf=lambda x: jax.tree.structure(x) == structure)
    shaped = [part for part in parts if jax.tree.structure(part) == structure]
    assert shaped
    for part in shaped:
        assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(part))
    assert all(np.isfinite(np.asarray(x, np.float32)).all() for x in jax.tree.leaves(params))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_zero_gradients_leave_the_params_unchanged(name):
    params = nested_params()
    optimizer = FACTORIES[name](RATES[name])
    update = jax.jit(optimizer.update)
    state = optimizer.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    p = params
    for _ in range(3):
        u, state = update(zeros, state, p)
        p = gdjax.apply_updates(p, u)
    assert_trees_close(p, params, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_a_schedule_works_where_the_rate_does(name):
    rate = RATES[name]
    constant = _final(FACTORIES[name](rate))
    scheduled = _final(FACTORIES[name](gdjax.schedules.linear(rate, 0.0, 20)))
    # The linear schedule's rate at step t is rate * (1 - t/20): check against the
    # same decay written as a plain function, and against the constant rate.
    written = _final(FACTORIES[name](lambda t: rate * jnp.maximum(1 - t / 20, 0.0)))
    assert_trees_close(scheduled, written, rtol=1e-6)
    assert not np.allclose(scheduled["scale"], constant["scale"])


def test_prodigy_needs_the_params():
    optimizer = prodigy()
    state = optimizer.init(jnp.ones(2))
    with pytest.raises(ValueError, match="needs the params"):
        optimizer.update(jnp.ones(2), state)
