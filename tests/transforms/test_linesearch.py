"""The line searches and value_and_grad_from_state: optax 0.2.8 parity step by step,
extra arguments, validation, dtypes, jit and vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.transforms.linesearch import (
    BacktrackingLinesearchInfo,
    ScaleByBacktrackingLinesearchState,
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)
from tests.helpers import DEFAULT_COMPILER, assert_moved, assert_trees_close, loss, nested_params

STEPS = 30


def small_params(dtype=jnp.float32):
    """Two leaves: the compiled searches (two gradient call sites in a while loop) stay
    quick to build; `nested_params` is used where the tree's shape matters."""
    return {"w": jnp.array([-1.2, 1.0, 0.3], dtype), "b": jnp.asarray(0.5, dtype)}


def _descent(search):
    """Gradient descent directions (``-g``) followed by ``search``, in either library."""
    if isinstance(search, optax.GradientTransformationExtraArgs):
        return optax.chain(optax.sgd(1.0), search)
    return gdjax.chain(gdjax.sgd(1.0), search)


def _trajectory(opt, value_and_grad, params, steps=STEPS, loss_fn=loss):
    """Params and states after each of ``steps`` line-search steps (the value and the
    gradient read back from the state where ``value_and_grad`` does that)."""

    @jax.jit
    def step(params, state):
        value, grad = value_and_grad(params, state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss_fn)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append((params, state))
    return out


def _fresh(loss_fn):
    return lambda params, state: jax.value_and_grad(loss_fn)(params)


def _from_state(library, loss_fn):
    reuse = (value_and_grad_from_state if library is gdjax else optax.value_and_grad_from_state)(
        loss_fn
    )
    return lambda params, state: reuse(params, state=state)


def _assert_same_runs(ours, theirs, start=None, loss_fn=loss, reuse=True, steps=STEPS):
    start = nested_params() if start is None else start
    get = (lambda lib: _from_state(lib, loss_fn)) if reuse else (lambda lib: _fresh(loss_fn))
    a = _trajectory(_descent(ours), get(gdjax), start, steps, loss_fn)
    b = _trajectory(_descent(theirs), get(optax), start, steps, loss_fn)
    assert_moved(start, a[-1][0])
    for (pa, sa), (pb, sb) in zip(a, b, strict=True):
        assert_trees_close(pa, pb, rtol=1e-5)
        la, lb = sa[-1], sb[-1]  # the line search's state
        assert_trees_close(la.learning_rate, lb.learning_rate, rtol=1e-5)
        assert_trees_close(la.value, lb.value, rtol=1e-5)
        assert_trees_close(la.grad, lb.grad, rtol=1e-5, atol=1e-6)
        assert int(la.info.num_linesearch_steps) == int(lb.info.num_linesearch_steps)
    return a


# --------------------------------------------------------------------------- zoom


def test_zoom_defaults_match_optax_step_by_step():
    runs = _assert_same_runs(scale_by_zoom_linesearch(15), optax.scale_by_zoom_linesearch(15))
    # The searches did work: several evaluations at some step, rates other than 1.
    rates = [float(state[-1].learning_rate) for _, state in runs]
    assert any(abs(r - 1.0) > 1e-3 for r in rates)


ZOOM_ARGS = {
    "max_learning_rate": 0.8,
    "tol": 1e-6,
    "increase_factor": 1.5,
    "slope_rtol": 1e-3,
    "curv_rtol": 0.5,
    "approx_dec_rtol": None,
    "stepsize_precision": 1e-4,
    "initial_guess_strategy": "one",
}


def test_zoom_non_default_arguments_match_optax():
    _assert_same_runs(
        scale_by_zoom_linesearch(8, **ZOOM_ARGS),
        optax.scale_by_zoom_linesearch(8, **ZOOM_ARGS),
        start=small_params(),
        reuse=False,  # fresh gradients each step: the other path of the callers
    )


def test_zoom_rejects_a_bad_step_by_its_value_and_keeps_descending():
    # f(x) = x**2 from x = 3 along -g: the step 1 jumps to -3 (no decrease); the
    # search must bracket and land on the minimizer 0 (a quadratic: eta = 1/2).
    opt = _descent(scale_by_zoom_linesearch(10, initial_guess_strategy="one"))
    params = jnp.array([3.0])
    state = opt.init(params)
    value, grad = jax.value_and_grad(lambda x: jnp.sum(x**2))(params)
    updates, state = opt.update(
        grad, state, params, value=value, grad=grad, value_fn=lambda x: jnp.sum(x**2)
    )
    np.testing.assert_allclose(state[-1].learning_rate, 0.5, rtol=1e-6)
    np.testing.assert_allclose(params + updates, 0.0, atol=1e-6)
    assert int(state[-1].info.num_linesearch_steps) >= 2


# --------------------------------------------------------------------------- backtracking


def test_backtracking_defaults_match_optax_step_by_step():
    _assert_same_runs(
        scale_by_backtracking_linesearch(15),
        optax.scale_by_backtracking_linesearch(15),
        reuse=False,
    )


BACKTRACKING_ARGS = {
    "slope_rtol": 0.3,
    "decrease_factor": 0.5,
    "increase_factor": 2.0,
    "max_learning_rate": 0.5,
    "atol": 1e-6,
    "rtol": 1e-6,
    "store_grad": True,
}


def test_backtracking_non_default_arguments_match_optax():
    runs = _assert_same_runs(
        scale_by_backtracking_linesearch(10, **BACKTRACKING_ARGS),
        optax.scale_by_backtracking_linesearch(10, **BACKTRACKING_ARGS),
        start=small_params(),
    )
    assert any(int(s[-1].info.num_linesearch_steps) > 1 for _, s in runs)


def test_backtracking_without_store_grad_keeps_no_gradient():
    state = _descent(scale_by_backtracking_linesearch(5)).init(nested_params())
    assert state[-1].grad is None
    with pytest.raises(ValueError, match="no value or no grad"):
        value_and_grad_from_state(loss)(nested_params(), state=state)


def test_backtracking_takes_no_step_where_every_try_is_nan():
    opt = _descent(scale_by_backtracking_linesearch(3))
    params = jnp.array([1.0])
    state = opt.init(params)

    def nan_away(x):
        return jnp.where(jnp.abs(x[0] - 1.0) > 0, jnp.nan, jnp.sum(x**2))

    updates, state = opt.update(
        jnp.array([2.0]), state, params, value=1.0, grad=jnp.array([2.0]), value_fn=nan_away
    )
    assert float(state[-1].learning_rate) == 0.0
    np.testing.assert_array_equal(updates, 0.0)


# --------------------------------------------------------------------------- both


def test_state_field_names_are_optax():
    pairs = [
        (ScaleByZoomLinesearchState, optax.ScaleByZoomLinesearchState),
        (ZoomLinesearchInfo, optax.ZoomLinesearchInfo),
        (ScaleByBacktrackingLinesearchState, optax.ScaleByBacktrackingLinesearchState),
        (BacktrackingLinesearchInfo, optax._src.linesearch.BacktrackingLinesearchInfo),
    ]
    for ours, theirs in pairs:
        assert ours.__name__ == theirs.__name__
        assert ours._fields == theirs._fields


SEARCHES = {
    "zoom": lambda: scale_by_zoom_linesearch(10),
    "backtracking": lambda: scale_by_backtracking_linesearch(10, store_grad=True),
}


def _data_loss(params, x, *, y):
    return jnp.sum((x * params - y) ** 2)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_extra_arguments_reach_value_fn_as_in_optax(name):
    theirs = {
        "zoom": optax.scale_by_zoom_linesearch(10),
        "backtracking": optax.scale_by_backtracking_linesearch(10, store_grad=True),
    }[name]
    params = jnp.array([1.0, -2.0, 0.5])
    data = {"x": jnp.array([3.0, 2.0, 1.0]), "y": jnp.array([0.5, 0.0, 1.0])}
    results = []
    for opt in (_descent(SEARCHES[name]()), _descent(theirs)):

        def step(p, state, data, opt=opt):
            value, grad = jax.value_and_grad(_data_loss)(p, **data)
            updates, state = opt.update(
                grad, state, p, value=value, grad=grad, value_fn=_data_loss, **data
            )
            return optax.apply_updates(p, updates), state

        step = jax.jit(step)
        p, state = params, opt.init(params)
        for _ in range(3):
            p, state = step(p, state, data)
        results.append(p)
    assert_moved(params, results[0])
    assert_trees_close(results[0], results[1], rtol=1e-5)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_extra_arguments_value_fn_does_not_take_are_an_error(name):
    opt = _descent(SEARCHES[name]())
    params = jnp.array([1.0])
    state = opt.init(params)
    with pytest.raises(TypeError, match=r"\['z'\]"):
        opt.update(params, state, params, value=1.0, grad=params, value_fn=loss, z=1.0)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_missing_value_fn_is_an_error(name):
    opt = SEARCHES[name]()
    params = jnp.array([1.0])
    with pytest.raises(TypeError, match="value_fn="):
        opt.update(params, opt.init(params), params, value=1.0, grad=params)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_zero_gradients_leave_params_unchanged(name):
    opt = _descent(SEARCHES[name]())
    params = small_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    update = jax.jit(functools.partial(opt.update, value_fn=loss))
    updates, _ = update(zeros, opt.init(params), params, value=loss(params), grad=zeros)
    assert_trees_close(gdjax.apply_updates(params, updates), params, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(SEARCHES))
def test_bfloat16_params_give_bfloat16_updates_and_grads(name):
    opt = _descent(SEARCHES[name]())
    params = small_params(jnp.bfloat16)
    runs = _trajectory(opt, _from_state(gdjax, loss), params, steps=3)
    new, state = runs[-1]
    assert_moved(params, new)
    for leaf in jax.tree.leaves((new, state[-1].grad)):
        assert leaf.dtype == jnp.bfloat16
    # The step size and the value are kept in float32 (optax keeps them in bfloat16).
    assert state[-1].learning_rate.dtype == jnp.float32
    assert float(loss(new)) < float(loss(params))


@pytest.mark.parametrize("name", list(SEARCHES))
def test_vmap_over_starting_points_inside_jit_equals_separate_runs(name):
    opt = _descent(SEARCHES[name]())
    starts = jnp.array([[-1.2, 1.0], [0.5, -0.3], [2.0, 2.0]])

    def rosenbrock(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    reuse = value_and_grad_from_state(rosenbrock)

    def solve(x):
        def step(carry, _):
            x, state = carry
            value, grad = reuse(x, state=state)
            u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
            return (gdjax.apply_updates(x, u), state), None

        (x, _), _ = jax.lax.scan(step, (x, opt.init(x)), None, length=20)
        return x

    # XLA's default compilation: Rosenbrock grows the two programs' rounding past 1e-6
    # under the suite's cheaper compilation.
    together = jax.jit(jax.vmap(solve), compiler_options=DEFAULT_COMPILER)(starts)
    alone = jnp.stack([jax.jit(solve, compiler_options=DEFAULT_COMPILER)(x) for x in starts])
    assert_trees_close(together, alone, rtol=1e-6)
    assert_moved(starts, together)


def test_vmap_over_a_hyperparameter_equals_separate_runs():
    params = small_params()

    def final(curv_rtol):
        opt = _descent(scale_by_zoom_linesearch(10, curv_rtol=curv_rtol))
        reuse = value_and_grad_from_state(loss)

        def step(carry, _):
            p, state = carry
            value, grad = reuse(p, state=state)
            u, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=loss)
            return (gdjax.apply_updates(p, u), state), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=10)
        return p

    values = jnp.array([0.9, 0.1])
    together = jax.jit(jax.vmap(final))(values)
    for i, c in enumerate([0.9, 0.1]):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], together), jax.jit(final)(c))
    first = jax.tree.map(lambda x: x[0], together)
    second = jax.tree.map(lambda x: x[1], together)
    with pytest.raises(AssertionError):
        assert_trees_close(first, second)


def test_optimizer_is_a_pytree_of_its_hyperparameters():
    opt = scale_by_zoom_linesearch(7, curv_rtol=0.5)
    assert gdjax.tree.get(opt, "curv_rtol") == 0.5
    assert gdjax.tree.get(opt, "max_linesearch_steps") == 7
    again = jax.tree.unflatten(jax.tree.structure(opt), jax.tree.leaves(opt))
    assert jax.tree.structure(again) == jax.tree.structure(opt)


# --------------------------------------------------------------------------- reuse


def test_value_and_grad_from_state_computes_first_then_reuses():
    opt = _descent(scale_by_zoom_linesearch(10))
    params = small_params()
    reuse = jax.jit(value_and_grad_from_state(loss))
    state = opt.init(params)
    value, grad = reuse(params, state=state)  # value inf in a fresh state: computed
    want_value, want_grad = jax.value_and_grad(loss)(params)
    assert_trees_close((value, grad), (want_value, want_grad))
    update = jax.jit(functools.partial(opt.update, value_fn=loss))
    updates, state = update(grad, state, params, value=value, grad=grad)
    params = gdjax.apply_updates(params, updates)
    # Now read back: exactly the stored value, equal to a fresh evaluation.
    value, grad = reuse(params, state=state)
    assert float(value) == float(state[-1].value)
    assert_trees_close((value, grad), jax.value_and_grad(loss)(params), rtol=1e-5, atol=1e-6)


def test_value_and_grad_from_state_passes_arguments_on_and_matches_optax():
    params = jnp.array([1.0, 2.0, 3.0])
    state = scale_by_zoom_linesearch(5).init(params)
    ours = value_and_grad_from_state(_data_loss)(params, 2.0, state=state, y=1.0)
    theirs = optax.value_and_grad_from_state(_data_loss)(params, 2.0, state=state, y=1.0)
    assert_trees_close(ours, theirs, rtol=0, atol=0)


# --------------------------------------------------------------------------- validation

BAD = [
    (scale_by_zoom_linesearch, "max_linesearch_steps", -1, {}),
    (scale_by_zoom_linesearch, "max_linesearch_steps", 2.5, {}),
    (scale_by_zoom_linesearch, "max_learning_rate", 0.0, {}),
    (scale_by_zoom_linesearch, "tol", -1.0, {}),
    (scale_by_zoom_linesearch, "increase_factor", 1.0, {}),
    (scale_by_zoom_linesearch, "slope_rtol", 1.0, {}),
    (scale_by_zoom_linesearch, "curv_rtol", -0.5, {}),
    (scale_by_zoom_linesearch, "approx_dec_rtol", -1e-6, {}),
    (scale_by_zoom_linesearch, "stepsize_precision", float("nan"), {}),
    (scale_by_zoom_linesearch, "initial_guess_strategy", "two", {}),
    (scale_by_zoom_linesearch, "verbose", 1, {}),
    (scale_by_backtracking_linesearch, "max_backtracking_steps", -2, {}),
    (scale_by_backtracking_linesearch, "slope_rtol", -0.1, {}),
    (scale_by_backtracking_linesearch, "decrease_factor", 1.0, {}),
    (scale_by_backtracking_linesearch, "increase_factor", 0.5, {}),
    (scale_by_backtracking_linesearch, "max_learning_rate", -1.0, {}),
    (scale_by_backtracking_linesearch, "atol", -1.0, {}),
    (scale_by_backtracking_linesearch, "rtol", -1.0, {}),
    (scale_by_backtracking_linesearch, "store_grad", "yes", {}),
]


@pytest.mark.parametrize(("factory", "name", "value", "kwargs"), BAD)
def test_bad_hyperparameters_are_refused(factory, name, value, kwargs):
    args = {"max_linesearch_steps": 10} if factory is scale_by_zoom_linesearch else {}
    if factory is scale_by_backtracking_linesearch:
        args = {"max_backtracking_steps": 10}
    args.update(kwargs)
    args[name] = value
    with pytest.raises(ValueError) as error:
        factory(**args)
    message = str(error.value)
    assert message.startswith(f"{factory.__name__}: {name} ")
    assert repr(value) in message


def test_traced_hyperparameters_pass_the_checks():
    def build(x):
        scale_by_zoom_linesearch(x.astype(jnp.int32), tol=x, max_learning_rate=x)
        scale_by_backtracking_linesearch(x.astype(jnp.int32), atol=x, decrease_factor=x)
        return x

    jax.jit(build)(jnp.float32(0.5))


def test_verbose_reports_a_failed_search(capfd):
    opt = scale_by_zoom_linesearch(2, verbose=True)
    params = jnp.array([1.0])
    # An ascent direction: no step decreases x**2.
    opt.update(
        params, opt.init(params), params, value=1.0, grad=2 * params, value_fn=lambda x: x @ x
    )
    jax.effects_barrier()
    assert "no step size meets both conditions" in capfd.readouterr().out
