"""L-BFGS (transform and alias): optax 0.2.8 parity step by step on Rosenbrock and a
quadratic, with both line searches and without one; PyTorch's LBFGS where its
equations are optax's; validation, dtypes, vmap."""

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdjax
from gdjax.optimizers.lbfgs import DEFAULT_LINESEARCH, lbfgs
from gdjax.transforms.lbfgs import ScaleByLBFGSState, scale_by_lbfgs
from gdjax.transforms.linesearch import (
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)
from tests.helpers import (
    DEFAULT_COMPILER,
    assert_moved,
    assert_trees_close,
    convex_loss,
    nested_params,
    run,
)


def rosenbrock(x):
    """Rosenbrock's function in ``len(x)`` dimensions (minimum 0 at all ones)."""
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_CURVATURES = jnp.array([1.0, 3.0, 10.0, 0.5, 2.0])


def quadratic(params):
    """A convex quadratic on a dict of two leaves (curvatures 0.5 to 10, coupled)."""
    x = jnp.concatenate([params["a"], params["b"]])
    return 0.5 * jnp.sum(_CURVATURES * (x - 1.0) ** 2) + 0.25 * jnp.sum(x[:-1] * x[1:])


QUADRATIC_START = {"a": jnp.array([3.0, -2.0, 0.5]), "b": jnp.array([4.0, -1.0])}


def _trajectory(opt, reuse, objective, params, steps):
    """The params after each step of ``opt``, the value and gradient read from the state."""

    def step(params, state):
        value, grad = reuse(objective)(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=objective)
        return optax.apply_updates(params, updates), state

    # XLA's default compilation: Rosenbrock's valley grows the two libraries' rounding
    # differences past 1e-5 in 40 steps under the suite's cheaper compilation.
    step = jax.jit(step, compiler_options=DEFAULT_COMPILER)

    state = opt.init(params)
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append(params)
    return out, state


def _assert_same_iterates(ours, theirs, objective, start, steps=30, rtol=1e-5):
    mine, state = _trajectory(ours, value_and_grad_from_state, objective, start, steps)
    want, _ = _trajectory(theirs, optax.value_and_grad_from_state, objective, start, steps)
    assert_moved(start, mine[-1])
    for a, b in zip(mine, want, strict=True):
        assert_trees_close(a, b, rtol=rtol, atol=1e-6)
    return mine, state


@pytest.mark.parametrize(
    "start",
    [jnp.array([-1.2, 1.0]), jnp.linspace(-1.0, 0.5, 10)],
    ids=["2d", "10d"],
)
def test_default_lbfgs_matches_optax_on_rosenbrock(start):
    iterates, _ = _assert_same_iterates(lbfgs(), optax.lbfgs(), rosenbrock, start, steps=40)
    if start.shape == (2,):  # converged: L-BFGS with a Wolfe search solves it in ~30 steps
        np.testing.assert_allclose(iterates[-1], 1.0, atol=1e-4)
    assert float(rosenbrock(iterates[-1])) < 1e-2 * float(rosenbrock(start))


def test_default_lbfgs_matches_optax_on_a_quadratic_and_converges():
    iterates, state = _assert_same_iterates(lbfgs(), optax.lbfgs(), quadratic, QUADRATIC_START)
    gradient = jax.grad(quadratic)(iterates[-1])
    assert float(gdjax.tree.global_norm(gradient)) < 1e-4
    assert int(state[0].count) == 30


def test_non_default_lbfgs_matches_optax():
    search = {"max_linesearch_steps": 10, "curv_rtol": 0.5, "initial_guess_strategy": "one"}
    _assert_same_iterates(
        lbfgs(
            0.9,
            memory_size=3,
            scale_init_precond=False,
            linesearch=scale_by_zoom_linesearch(**search),
        ),
        optax.lbfgs(
            0.9,
            memory_size=3,
            scale_init_precond=False,
            linesearch=optax.scale_by_zoom_linesearch(**search),
        ),
        rosenbrock,
        jnp.array([-1.2, 1.0, 0.3, 0.8]),
    )


def test_lbfgs_with_backtracking_matches_optax_and_takes_an_optax_line_search():
    mine, _ = _assert_same_iterates(
        lbfgs(linesearch=scale_by_backtracking_linesearch(20, store_grad=True)),
        optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(20, store_grad=True)),
        quadratic,
        QUADRATIC_START,
    )
    # An optax line search in a gdjax lbfgs: the extra arguments reach it too.
    mixed, _ = _trajectory(
        lbfgs(linesearch=optax.scale_by_backtracking_linesearch(20, store_grad=True)),
        value_and_grad_from_state,
        quadratic,
        QUADRATIC_START,
        30,
    )
    for a, b in zip(mixed, mine, strict=True):
        assert_trees_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lbfgs(0.1, linesearch=None), optax.lbfgs(0.1, linesearch=None)),
        (
            lbfgs(0.05, memory_size=4, scale_init_precond=False, linesearch=None),
            optax.lbfgs(0.05, memory_size=4, scale_init_precond=False, linesearch=None),
        ),
    ],
    ids=["defaults", "non-default"],
)
def test_fixed_learning_rate_without_line_search_matches_optax_over_300_steps(ours, theirs):
    start = nested_params()
    got, _ = run(ours, start, loss_fn=convex_loss)
    want, _ = run(theirs, start, loss_fn=convex_loss, apply=optax.apply_updates)
    assert_moved(start, got)
    assert_trees_close(got, want, rtol=1e-5)


def test_transform_state_matches_optax():
    params = nested_params()
    ours, theirs = scale_by_lbfgs(4), optax.scale_by_lbfgs(4)
    assert ScaleByLBFGSState._fields == optax.ScaleByLBFGSState._fields
    s1, s2 = ours.init(params), theirs.init(params)
    grad = jax.jit(jax.grad(convex_loss))
    step = jax.jit(lambda g, s, p: ours.update(g, s, p))
    their_step = jax.jit(theirs.update)
    for _ in range(6):  # wraps the memory of 4
        g = grad(params)
        u1, s1 = step(g, s1, params)
        u2, s2 = their_step(g, s2, params)
        assert_trees_close(u1, u2, rtol=1e-5, atol=1e-7)
        params = jax.tree.map(lambda p, u: p - 0.1 * u, params, u1)
    assert type(s1).__name__ == type(s2).__name__
    assert_trees_close(tuple(s1), tuple(s2), rtol=1e-5, atol=1e-7)
    assert s1.diff_params_memory["dense"]["w"].shape == (4, 4, 3)


def test_signature_and_default_line_search_are_optax():
    ours, theirs = inspect.signature(lbfgs), inspect.signature(optax.lbfgs)
    assert list(ours.parameters) == list(theirs.parameters)
    assert [p.default for p in ours.parameters.values()][:3] == [None, 10, True]
    assert ours.parameters["linesearch"].default is DEFAULT_LINESEARCH
    settings = DEFAULT_LINESEARCH.update.settings
    assert settings["max_linesearch_steps"] == 20
    assert DEFAULT_LINESEARCH.update.initial_guess_strategy == "one"


# --------------------------------------------------------------------------- PyTorch


def test_matches_pytorch_lbfgs_without_line_search_over_120_steps():
    """PyTorch's ``LBFGS(lr, max_iter=1, history_size=m, line_search_fn=None)``, one
    ``step()`` per gdjax step, is gdjax's ``lbfgs(lr, memory_size=m, linesearch=None)``:
    the same two-loop recursion with ``gamma = <s, y> / <y, y>`` and the same ring
    memory. Two differences, kept out of reach here: PyTorch's first step is
    ``min(1, 1/|g|_1) * lr`` (gdjax, as optax: ``1/|g|_2``), equal when ``|g|_1 <= 1``
    as at this start; and PyTorch skips a memory update when ``<y, s> <= 1e-10``,
    which a convex loss at this rate never reaches. ``tolerance_change=0`` and
    ``tolerance_grad=0`` switch off its early exits."""
    torch = pytest.importorskip("torch")
    start = jax.tree.map(lambda x: 0.3 + 0.004 * x, nested_params())
    value_and_grad = jax.jit(jax.value_and_grad(convex_loss))
    assert float(sum(jnp.sum(jnp.abs(g)) for g in jax.tree.leaves(value_and_grad(start)[1]))) <= 1
    lr, memory = 0.1, 5

    ours = lbfgs(lr, memory_size=memory, linesearch=None)
    params, state = start, ours.init(start)
    update = jax.jit(ours.update)
    tensors = [torch.tensor(np.asarray(x), requires_grad=True) for x in jax.tree.leaves(start)]
    theirs = torch.optim.LBFGS(
        tensors,
        lr=lr,
        max_iter=1,
        history_size=memory,
        line_search_fn=None,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    treedef = jax.tree.structure(start)

    def closure():
        # The same gradients in both (JAX's, at PyTorch's params): the test measures the
        # optimizers' arithmetic, not two autodiff engines' rounding.
        current = jax.tree.unflatten(treedef, [jnp.asarray(t.detach().numpy()) for t in tensors])
        value, grad = value_and_grad(current)
        for tensor, g in zip(tensors, jax.tree.leaves(grad), strict=True):
            tensor.grad = torch.tensor(np.asarray(g))
        return torch.tensor(float(value))

    for _ in range(120):
        _, grad = value_and_grad(params)
        updates, state = update(grad, state, params)
        params = gdjax.apply_updates(params, updates)
        theirs.step(closure)
    assert_moved(start, params)
    for a, b in zip(jax.tree.leaves(params), tensors, strict=True):
        np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- properties


def test_memory_size_is_static_and_refuses_a_tracer():
    with pytest.raises(ValueError, match="lbfgs: memory_size shapes the program"):
        jax.jit(lambda m: lbfgs(memory_size=m))(3)
    with pytest.raises(ValueError, match="scale_by_lbfgs: memory_size shapes the program"):
        jax.jit(lambda m: scale_by_lbfgs(m))(3)
    # Static: not a leaf of the optimizer.
    leaves = jax.tree.leaves(lbfgs(0.1, memory_size=7, linesearch=None))
    assert 7 not in [np.asarray(x).item() for x in leaves]


@pytest.mark.parametrize(
    ("name", "value"),
    [("memory_size", 0), ("memory_size", 2.5), ("scale_init_precond", 1), ("learning_rate", -0.1)],
)
def test_bad_hyperparameters_are_refused(name, value):
    with pytest.raises(ValueError) as error:
        lbfgs(**{name: value})
    assert str(error.value).startswith(f"lbfgs: {name} ")
    assert repr(value) in str(error.value)


def test_bfloat16_params_give_bfloat16_updates_and_state():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), QUADRATIC_START)
    fresh = lambda f: lambda p, state: jax.value_and_grad(f)(p)  # noqa: E731
    for opt, reuse in ((lbfgs(0.1, linesearch=None), fresh), (lbfgs(), value_and_grad_from_state)):
        iterates, state = _trajectory(opt, reuse, quadratic, params, 5)
        for leaf in jax.tree.leaves((iterates[-1], state[0].diff_params_memory, state[0].params)):
            assert leaf.dtype == jnp.bfloat16
        assert float(quadratic(iterates[-1])) < float(quadratic(params))
    for opt in (lbfgs(0.1, linesearch=None), lbfgs()):
        state = opt.init(params)
        grad = jax.grad(quadratic)(params)
        update = jax.jit(functools.partial(opt.update, value_fn=quadratic))
        for _ in range(2):
            updates, state = update(grad, state, params, value=quadratic(params), grad=grad)
            assert {x.dtype for x in jax.tree.leaves(updates)} == {jnp.dtype(jnp.bfloat16)}


@pytest.mark.parametrize("linesearch", [None, DEFAULT_LINESEARCH], ids=["none", "zoom"])
def test_zero_gradients_leave_params_unchanged(linesearch):
    opt = lbfgs(0.1 if linesearch is None else None, linesearch=linesearch)
    params = QUADRATIC_START
    state = opt.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    update = jax.jit(functools.partial(opt.update, value_fn=quadratic))
    for _ in range(3):
        updates, state = update(zeros, state, params, value=quadratic(params), grad=zeros)
        assert_trees_close(gdjax.apply_updates(params, updates), params, rtol=0, atol=0)


def test_vmap_over_learning_rate_inside_jit_equals_separate_runs():
    start = nested_params()

    def final(lr):
        return run(lbfgs(lr, linesearch=None), start, 50, convex_loss)[0]

    rates = jnp.array([0.05, 0.2])
    together = jax.jit(jax.vmap(final))(rates)
    for i, lr in enumerate([0.05, 0.2]):
        assert_trees_close(
            jax.tree.map(lambda x, i=i: x[i], together), final(lr), rtol=1e-6, atol=1e-7
        )
    with pytest.raises(AssertionError):
        assert_trees_close(*[jax.tree.map(lambda x, i=i: x[i], together) for i in range(2)])


def test_schedule_works_where_the_rate_does():
    start = nested_params()
    theirs, _ = run(
        optax.lbfgs(optax.exponential_decay(0.2, 10, 0.5), linesearch=None),
        start,
        50,
        convex_loss,
        apply=optax.apply_updates,
    )
    ours, state = run(
        lbfgs(optax.exponential_decay(0.2, 10, 0.5), linesearch=None), start, 50, convex_loss
    )
    assert_moved(start, ours)
    assert_trees_close(ours, theirs, rtol=1e-5)
    assert int(state[1].count) == 50


def test_vmap_over_a_line_search_hyperparameter():
    start = jnp.array([-1.2, 1.0])

    def final(curv_rtol):
        opt = lbfgs(
            linesearch=scale_by_zoom_linesearch(
                20, curv_rtol=curv_rtol, initial_guess_strategy="one"
            )
        )
        reuse = value_and_grad_from_state(rosenbrock)

        def step(carry, _):
            x, state = carry
            value, grad = reuse(x, state=state)
            u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=rosenbrock)
            return (gdjax.apply_updates(x, u), state), None

        (x, _), _ = jax.lax.scan(step, (start, opt.init(start)), None, length=8)
        return x

    # XLA's default compilation: in Rosenbrock's valley the vmapped program and the
    # single one drift apart by 4e-4 in 8 steps under the suite's cheaper compilation.
    together = jax.jit(jax.vmap(final), compiler_options=DEFAULT_COMPILER)(jnp.array([0.9, 0.1]))
    alone = jax.jit(final, compiler_options=DEFAULT_COMPILER)
    assert_trees_close(together[0], alone(0.9), rtol=1e-5)
    assert_trees_close(together[1], alone(0.1), rtol=1e-5)
    assert not np.allclose(together[0], together[1])
