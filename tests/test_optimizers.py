"""Every alias against optax, and hyperparameters as data (vmap, arrays, schedules, pytrees)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from tests.helpers import assert_moved, assert_trees_close, convex_loss, loss, nested_params, run

# name -> (gdjax alias call, optax alias call) with the same arguments.
PARITY = {
    "sgd": (lambda: gdjax.sgd(0.02), lambda: optax.sgd(0.02)),
    "sgd-momentum": (lambda: gdjax.sgd(0.02, 0.9), lambda: optax.sgd(0.02, 0.9)),
    "sgd-nesterov": (lambda: gdjax.sgd(0.02, 0.8, True), lambda: optax.sgd(0.02, 0.8, True)),
    "adagrad": (lambda: gdjax.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "adagrad-custom": (
        lambda: gdjax.adagrad(0.2, 0.5, 1e-5),
        lambda: optax.adagrad(0.2, 0.5, 1e-5),
    ),
    "rmsprop": (lambda: gdjax.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "rmsprop-custom": (
        lambda: gdjax.rmsprop(0.005, 0.95, 1e-6, 0.1, False, momentum=0.9, bias_correction=True),
        lambda: optax.rmsprop(0.005, 0.95, 1e-6, 0.1, False, momentum=0.9, bias_correction=True),
    ),
    "rmsprop-centered-nesterov": (
        lambda: gdjax.rmsprop(0.005, centered=True, momentum=0.8, nesterov=True),
        lambda: optax.rmsprop(0.005, centered=True, momentum=0.8, nesterov=True),
    ),
    "adadelta": (lambda: gdjax.adadelta(1.0), lambda: optax.adadelta(1.0)),
    "adadelta-custom": (
        lambda: gdjax.adadelta(0.5, 0.95, 1e-5, weight_decay=0.01),
        lambda: optax.adadelta(0.5, 0.95, 1e-5, weight_decay=0.01),
    ),
    "adam": (lambda: gdjax.adam(0.01), lambda: optax.adam(0.01)),
    "adam-custom": (
        lambda: gdjax.adam(0.02, 0.8, 0.99, 1e-6, 1e-10, nesterov=True),
        lambda: optax.adam(0.02, 0.8, 0.99, 1e-6, 1e-10, nesterov=True),
    ),
    "nadam": (lambda: gdjax.nadam(0.01), lambda: optax.nadam(0.01)),
    "amsgrad": (lambda: gdjax.amsgrad(0.01), lambda: optax.amsgrad(0.01)),
    "amsgrad-custom": (
        lambda: gdjax.amsgrad(0.02, 0.8, 0.95, 1e-6),
        lambda: optax.amsgrad(0.02, 0.8, 0.95, 1e-6),
    ),
    "adamw": (lambda: gdjax.adamw(0.01), lambda: optax.adamw(0.01)),
    "adamw-custom": (
        lambda: gdjax.adamw(
            0.01, 0.85, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
        ),
        lambda: optax.adamw(
            0.01, 0.85, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
        ),
    ),
    "adamax": (lambda: gdjax.adamax(0.01), lambda: optax.adamax(0.01)),
    "adamax-custom": (
        lambda: gdjax.adamax(0.02, 0.8, 0.99, 1e-6),
        lambda: optax.adamax(0.02, 0.8, 0.99, 1e-6),
    ),
    "noisy_sgd": (lambda: gdjax.noisy_sgd(0.01, key=0), lambda: optax.noisy_sgd(0.01, key=0)),
    "noisy_sgd-custom": (
        lambda: gdjax.noisy_sgd(0.01, 0.3, 0.6, key=5),
        lambda: optax.noisy_sgd(0.01, 0.3, 0.6, key=5),
    ),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_matches_optax_over_300_steps(name):
    ours, theirs = PARITY[name]
    params = nested_params()
    got, _ = run(ours(), params)
    want, _ = run(theirs(), params)
    assert_moved(params, got)
    assert_trees_close(got, want)


def test_adadelta_without_a_learning_rate_descends_with_rate_one():
    params = nested_params()
    got, _ = run(gdjax.adadelta(), params, loss_fn=convex_loss)
    want, _ = run(optax.adadelta(1.0), params, loss_fn=convex_loss)
    assert_trees_close(got, want)
    assert convex_loss(got) < convex_loss(params)


# ----------------------------------------------------------------- hyperparameters as data


def _final(opt, steps=50):
    return run(opt, nested_params(), steps=steps, loss_fn=convex_loss)[0]


def test_vmap_over_learning_rate_inside_jit_equals_one_run_per_value():
    lrs = jnp.array([0.001, 0.01, 0.05])
    swept = jax.jit(jax.vmap(lambda lr: _final(gdjax.adam(lr))))(lrs)
    for i, lr in enumerate(lrs):
        one = _final(gdjax.adam(lr))
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), one, rtol=1e-6)


def test_vmap_over_momentum_inside_jit_equals_one_run_per_value():
    momenta = jnp.array([0.0, 0.5, 0.9])
    swept = jax.jit(jax.vmap(lambda mu: _final(gdjax.sgd(0.01, momentum=mu))))(momenta)
    for i, mu in enumerate(momenta):
        one = _final(gdjax.sgd(0.01, momentum=mu))
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), one, rtol=1e-6)


def test_vmap_over_a_grid_of_two_hyperparameters():
    lrs, decays = jnp.meshgrid(jnp.array([0.001, 0.01]), jnp.array([0.8, 0.99]))
    swept = jax.jit(jax.vmap(jax.vmap(lambda lr, d: _final(gdjax.rmsprop(lr, decay=d)))))(
        lrs, decays
    )
    for i in range(2):
        for j in range(2):
            one = _final(gdjax.rmsprop(lrs[i, j], decay=decays[i, j]))
            assert_trees_close(jax.tree.map(lambda x, i=i, j=j: x[i, j], swept), one, rtol=1e-6)


def test_a_new_learning_rate_array_does_not_recompile():
    params = nested_params()

    @jax.jit
    def step(params, lr):
        tx = gdjax.sgd(lr, momentum=0.9)
        g = jax.grad(convex_loss)(params)
        u, _ = tx.update(g, tx.init(params), params)
        return gdjax.apply_updates(params, u)

    a = step(params, jnp.float32(0.1))
    b = step(params, jnp.float32(0.2))
    assert step._cache_size() == 1
    assert not np.allclose(a["scale"], b["scale"])


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: gdjax.sgd(lr, 0.9),
        lambda lr: gdjax.adagrad(lr),
        lambda lr: gdjax.rmsprop(lr, momentum=0.5),
        lambda lr: gdjax.adadelta(lr),
        lambda lr: gdjax.adam(lr),
        lambda lr: gdjax.adamw(lr),
        lambda lr: gdjax.adamax(lr),
        lambda lr: gdjax.nadam(lr),
        lambda lr: gdjax.amsgrad(lr),
        lambda lr: gdjax.noisy_sgd(lr),
    ],
)
def test_a_schedule_works_wherever_a_learning_rate_does(make):
    # A constant schedule gives the numbers of the constant rate; a decaying one moves less.
    constant = _final(make(0.01))
    assert_trees_close(_final(make(gdjax.schedules.constant(0.01))), constant, rtol=1e-6)
    decayed = _final(make(gdjax.schedules.exponential_decay(0.01, 1, 0.9)))
    assert 0 < _distance_moved(decayed) < _distance_moved(constant)


def _distance_moved(params):
    start = jax.tree.leaves(nested_params())
    return sum(
        float(jnp.sum(jnp.abs(a - s))) for a, s in zip(jax.tree.leaves(params), start, strict=True)
    )


def test_weight_decay_schedule_in_adamw():
    params = nested_params()
    got, _ = run(gdjax.adamw(0.01, weight_decay=gdjax.schedules.linear(0.1, 0.0, 100)), params)
    want, _ = run(optax.adamw(0.01, weight_decay=optax.linear_schedule(0.1, 0.0, 100)), params)
    assert_trees_close(got, want)


def test_per_parameter_learning_rates_in_an_alias():
    params = {"x": jnp.array(15.0), "y": jnp.array(10.0)}
    tx = gdjax.sgd({"x": 0.125, "y": 0.015})
    grads = {"x": jnp.array(30.0), "y": jnp.array(20.0)}  # grad of x^2 + y^2
    u, _ = tx.update(grads, tx.init(params))
    np.testing.assert_allclose([u["x"], u["y"]], [-3.75, -0.3], rtol=1e-6)


@pytest.mark.parametrize("name", list(PARITY))
def test_bfloat16_params_get_bfloat16_updates_and_state(name):
    ours, _ = PARITY[name]
    tx = ours()
    params = nested_params(jnp.bfloat16)
    state = tx.init(params)
    grads = jax.grad(lambda p: convex_loss(jax.tree.map(lambda x: x.astype(jnp.float32), p)))(
        params
    )
    updates, state = jax.jit(tx.update)(grads, state, params)
    for leaf in jax.tree.leaves(updates):
        assert leaf.dtype == jnp.bfloat16
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (jnp.bfloat16, jnp.int32) or jnp.issubdtype(
            leaf.dtype, jax.dtypes.prng_key
        )


def test_bfloat16_updates_under_a_traced_float32_learning_rate():
    params = nested_params(jnp.bfloat16)

    @jax.jit
    def step(lr, b1):
        tx = gdjax.adam(lr, b1=b1)
        u, s = tx.update(params, tx.init(params))
        return u, s

    updates, state = step(jnp.float32(0.01), jnp.float32(0.9))
    assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}
    assert {x.dtype for x in jax.tree.leaves(state[0].mu)} == {jnp.dtype(jnp.bfloat16)}


# name -> alias built from a hyperparameter spelling ``h`` (every numeric argument goes
# through it), so each alias can be built with Python floats, NumPy or JAX scalars.
SCALAR_KINDS = {
    "python": float,
    "np.float64": np.float64,
    "np.float32": np.float32,
    "jnp.float32": jnp.float32,
}
ALIASES_OF = {
    "sgd": lambda h: gdjax.sgd(h(0.1)),
    "sgd-momentum": lambda h: gdjax.sgd(h(0.1), momentum=h(0.9)),
    "sgd-nesterov": lambda h: gdjax.sgd(h(0.1), momentum=h(0.9), nesterov=True),
    "adagrad": lambda h: gdjax.adagrad(h(0.1), h(0.1), h(1e-7)),
    "rmsprop": lambda h: gdjax.rmsprop(
        h(0.01), h(0.9), h(1e-8), h(0.1), centered=True, momentum=h(0.9), bias_correction=True
    ),
    "adadelta": lambda h: gdjax.adadelta(h(1.0), h(0.9), h(1e-6), weight_decay=h(0.01)),
    "adam": lambda h: gdjax.adam(h(0.01), h(0.9), h(0.999), h(1e-8), h(1e-10)),
    "adamw": lambda h: gdjax.adamw(h(0.01), h(0.9), h(0.999), h(1e-8), weight_decay=h(0.1)),
    "adamax": lambda h: gdjax.adamax(h(0.01), h(0.9), h(0.999), h(1e-8)),
    "nadam": lambda h: gdjax.nadam(h(0.01), h(0.9), h(0.999), h(1e-8)),
    "amsgrad": lambda h: gdjax.amsgrad(h(0.01), h(0.9), h(0.999), h(1e-8)),
    "noisy_sgd": lambda h: gdjax.noisy_sgd(h(0.01), h(0.3), h(0.55), key=1),
}


def _bfloat16_steps(tx, steps=4):
    params = nested_params(jnp.bfloat16)
    state = tx.init(params)
    seen = []
    for _ in range(steps):
        grads = jax.grad(lambda p: loss(jax.tree.map(lambda x: x.astype(jnp.float32), p)))(params)
        updates, state = tx.update(grads, state, params)
        params = gdjax.apply_updates(params, updates)
        seen.append((updates, state))
    return seen


@pytest.mark.parametrize("name", list(ALIASES_OF))
def test_numpy_and_jax_scalar_hyperparameters_behave_like_python_floats(name):
    # NumPy scalars are strongly typed in JAX: without care, np.float64(0.1) (a
    # np.logspace sweep) turned bfloat16 updates into float32 ones.
    runs = {kind: _bfloat16_steps(ALIASES_OF[name](h)) for kind, h in SCALAR_KINDS.items()}
    for kind, seen in runs.items():
        for updates, state in seen:
            for leaf in jax.tree.leaves(updates):
                assert leaf.dtype == jnp.bfloat16, kind
            for leaf in jax.tree.leaves(state):
                assert leaf.dtype in (jnp.bfloat16, jnp.int32) or jnp.issubdtype(
                    leaf.dtype, jax.dtypes.prng_key
                ), kind
    # np.float64 is a Python float's value: the very same numbers, step after step.
    for got, want in zip(runs["np.float64"], runs["python"], strict=True):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
                a, b = jax.random.key_data(a), jax.random.key_data(b)
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


# --------------------------------------------------------------------------- aliases as pytrees


def test_an_alias_is_a_pytree_whose_structure_is_its_kind_and_options():
    def structure(tx):
        return jax.tree.structure(tx)

    assert sorted(jax.tree.leaves(gdjax.sgd(0.1, 0.9))) == [0.1, 0.9]
    paths = [
        jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_leaves_with_path(gdjax.sgd(0.1))
    ]
    assert paths == [".update.transforms[1].learning_rate"]
    assert structure(gdjax.sgd(0.1, 0.0)) == structure(gdjax.sgd(0.2, 0.9))
    assert structure(gdjax.sgd(0.1)) != structure(gdjax.sgd(0.1, 0.9))  # None is an option
    assert structure(gdjax.sgd(0.1, 0.9)) != structure(gdjax.sgd(0.1, 0.9, nesterov=True))
    # A zero weight decay is a value like any other.
    assert structure(gdjax.adamw(0.1, weight_decay=0.0)) == structure(gdjax.adamw(0.1))
    assert structure(gdjax.adadelta()) == structure(gdjax.adadelta(0.5, weight_decay=0.1))
    assert structure(gdjax.adam(0.1)) != structure(gdjax.nadam(0.1))


def test_an_alias_passed_to_jit_keeps_its_boundary_checks():
    params = {"w": jnp.ones(3)}
    step = jax.jit(lambda tx, s, g: tx.update(g, s, params))
    tx = gdjax.adam(0.1)
    state = tx.init(params)
    with pytest.raises(TypeError, match="adam"):
        step(tx, state, {"w": jnp.ones(3, jnp.int32)})
    with pytest.raises(ValueError, match="updates"):
        step(tx, state, {"w": jnp.ones(2)})
    with pytest.raises(TypeError, match="adam"):
        jax.jit(lambda tx: tx.init({"w": jnp.ones(3, jnp.int32)}))(tx)
    good = jax.jit(lambda tx, s: tx.update(params, s, params))
    good(tx, state)
    good(gdjax.adam(0.2, b1=0.5), state)
    assert good._cache_size() == 1


# --------------------------------------------------------------------------- hyperparameter_kinds


def test_hyperparameter_kinds_read_the_annotations():
    import inspect

    from gdjax.optimizers import hyperparameter_kinds

    assert hyperparameter_kinds(gdjax.sgd) == {
        "learning_rate": "number",
        "momentum": "number",
        "nesterov": "bool",
        "accumulator_dtype": "other",
    }
    assert hyperparameter_kinds(gdjax.noisy_sgd)["key"] == "key"
    adamw = hyperparameter_kinds(gdjax.adamw)
    assert (adamw["weight_decay"], adamw["mask"], adamw["mu_dtype"]) == ("number", "other", "other")
    assert hyperparameter_kinds(gdjax.adadelta)["weight_decay_mask"] == "other"
    assert hyperparameter_kinds(lambda learning_rate=0.1: None) == {"learning_rate": "other"}
    # Every alias: the kinds are in the signature's order, and each agrees with the
    # default (a bool default is a switch, an int default of a key is a seed).
    for name in "sgd adagrad rmsprop adadelta adam nadam amsgrad adamw adamax noisy_sgd".split():
        factory = getattr(gdjax, name)
        kinds = hyperparameter_kinds(factory)
        parameters = inspect.signature(factory).parameters
        assert list(kinds) == list(parameters), name
        assert set(kinds.values()) <= {"number", "bool", "key", "other"}
        for argument, kind in kinds.items():
            default = parameters[argument].default
            assert (kind == "bool") == isinstance(default, bool), (name, argument)
            if kind == "number" and default is not inspect.Parameter.empty:
                assert default is None or isinstance(default, float), (name, argument)
