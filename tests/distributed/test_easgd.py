"""`easgd`: elastic averaging SGD (Zhang, Choromanska & LeCun 2015), Eqs. (5)-(6)."""

import re
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

import gdjax
from gdjax import landscapes
from gdjax.distributed import (
    EasgdState,
    Elasticity,
    easgd,
    easgd_center,
    replicate_workers,
    shard_workers,
)
from gdjax.training import datasets, models
from tests.helpers import COMPILES, ROOT, loss, nested_params, run_python

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def spread_workers(params, num_workers):
    """``num_workers`` different copies of ``params``: worker i shifted by 0.1 i."""
    stacked = replicate_workers(params, num_workers)
    shift = 0.1 * jnp.arange(num_workers, dtype=jnp.float32)
    return jax.tree.map(lambda x: x + shift.reshape((-1,) + (1,) * (x.ndim - 1)), stacked)


def noisy_grad(params, key, worker):
    """The gradient of the test loss plus worker- and step-specific noise."""
    grads = jax.grad(loss)(params)
    leaves, treedef = jax.tree.flatten(grads)
    keys = jax.random.split(jax.random.fold_in(key, worker), len(leaves))
    noisy = [
        g + 0.3 * jax.random.normal(k, g.shape, g.dtype) for g, k in zip(leaves, keys, strict=True)
    ]
    return jax.tree.unflatten(treedef, noisy)


def landscape_run(land, starts, tx, sigma, steps, seed=0):
    """Noisy descent of K workers on a landscape; the paths of the workers and the center."""
    grad = jax.vmap(land.grad)

    @jax.jit
    def go(x0, key):
        def step(carry, k):
            x, state = carry
            g = grad(x) + sigma * jax.random.normal(k, x.shape)
            updates, state = tx.update(g, state, x)
            x = gdjax.apply_updates(x, updates)
            return (x, state), (x, easgd_center(state))

        state = tx.init(x0)
        _, (xs, centers) = jax.lax.scan(step, (x0, state), jax.random.split(key, steps))
        return xs, centers, easgd_center(state)

    xs, centers, center0 = go(jnp.asarray(starts, jnp.float32), jax.random.key(seed))
    return np.asarray(xs), np.asarray(centers), np.asarray(center0)


# --------------------------------------------------------------------------- the equations


@pytest.mark.parametrize(
    "make",
    [
        lambda tau: easgd(gdjax.sgd(0.5), 2, alpha=0.25, tau=tau),
        lambda tau: easgd(gdjax.sgd(0.5), 2, Elasticity(rho=0.5, learning_rate=0.5), tau=tau),
        lambda tau: easgd(gdjax.sgd(0.5), 2, alpha=jnp.float32(0.25), tau=tau),
    ],
    ids=["alpha", "elasticity", "alpha-array"],
)
def test_two_workers_three_steps_by_hand(make):
    # eta = 0.5, alpha = eta * rho = 0.25; x^1_0 = 1, x^2_0 = 3, center x~_0 = 0.
    # Eq. (5): x^i_{t+1} = x^i_t - eta g^i_t - alpha (x^i_t - x~_t)
    # Eq. (6): x~_{t+1}  = x~_t + alpha sum_i (x^i_t - x~_t)
    # t = 0: x^1 = 1 - 0.5*2 - 0.25*(1 - 0) = -0.25;  x^2 = 3 + 0.5*2 - 0.25*(3 - 0) = 3.25
    #        x~ = 0 + 0.25*(1 + 3) = 1
    # t = 1: x^1 = -0.25 - 0.5*1 - 0.25*(-0.25 - 1) = -0.4375
    #        x^2 = 3.25 - 0.5*4 - 0.25*(3.25 - 1) = 0.6875;  x~ = 1 + 0.25*(-1.25 + 2.25) = 1.25
    # t = 2 (g = 0): x^1 = -0.4375 - 0.25*(-1.6875) = -0.015625
    #        x^2 = 0.6875 - 0.25*(-0.5625) = 0.828125;  x~ = 1.25 + 0.25*(-2.25) = 0.6875
    # With tau = 2 step t = 1 is local only (x^1 = -0.75, x^2 = 1.25, x~ = 1), then t = 2:
    #        x^1 = -0.75 - 0.25*(-1.75) = -0.3125;  x^2 = 1.25 - 0.25*0.25 = 1.1875
    #        x~ = 1 + 0.25*(-1.75 + 0.25) = 0.625
    expected = {
        1: [([-0.25, 3.25], 1.0), ([-0.4375, 0.6875], 1.25), ([-0.015625, 0.828125], 0.6875)],
        2: [([-0.25, 3.25], 1.0), ([-0.75, 1.25], 1.0), ([-0.3125, 1.1875], 0.625)],
    }
    grads = [[[2.0], [-2.0]], [[1.0], [4.0]], [[0.0], [0.0]]]
    for tau, rows in expected.items():
        tx = make(tau)
        x = jnp.array([[1.0], [3.0]])
        state = tx.init(x)
        np.testing.assert_array_equal(state.center, [2.0])  # init: the workers' mean
        state = state._replace(center=jnp.array([0.0]))
        for g, (workers, center) in zip(grads, rows, strict=True):
            updates, state = tx.update(jnp.array(g), state, x)
            x = gdjax.apply_updates(x, updates)
            np.testing.assert_array_equal(x[:, 0], workers)
            np.testing.assert_array_equal(state.center, [center])
        assert state.count == 3 and state.count.dtype == jnp.int32


def test_rho_zero_is_k_independent_runs_of_the_local_optimizer():
    num_workers, steps = 3, 200
    local = gdjax.adam(0.02)
    params = spread_workers(nested_params(), num_workers)
    tx = easgd(local, num_workers, Elasticity(rho=0.0, learning_rate=0.02))
    workers = jnp.arange(num_workers)

    @jax.jit
    def together(params, key):
        def step(carry, k):
            p, s = carry
            g = jax.vmap(noisy_grad, in_axes=(0, None, 0))(p, k, workers)
            u, s = tx.update(g, s, p)
            return (gdjax.apply_updates(p, u), s), None

        state = tx.init(params)
        final = jax.lax.scan(step, (params, state), jax.random.split(key, steps))[0]
        return final, state.center

    @jax.jit
    def alone(params, key, worker):
        def step(carry, k):
            p, s = carry
            u, s = local.update(noisy_grad(p, k, worker), s, p)
            return (gdjax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (params, local.init(params)), jax.random.split(key, steps))[0]

    key = jax.random.key(3)
    (final, state), start = together(params, key)
    for i in range(num_workers):
        mine = jax.tree.map(lambda x, i=i: x[i], params)
        expected, expected_state = alone(mine, key, i)
        got = jax.tree.map(lambda x, i=i: x[i], (final, state.local_state))
        for a, b in zip(
            jax.tree.leaves(got), jax.tree.leaves((expected, expected_state)), strict=True
        ):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), final, params)
    assert min(jax.tree.leaves(moved)) > 1e-2  # the runs really ran
    # The center never moves with rho = 0.
    for a, b in zip(jax.tree.leaves(state.center), jax.tree.leaves(start), strict=True):
        np.testing.assert_array_equal(a, b)


def test_tau_communicates_only_every_tau_steps():
    tau, num_workers = 3, 4
    tx = easgd(gdjax.sgd(0.1, momentum=0.5), num_workers, alpha=0.2, tau=tau)
    local = gdjax.sgd(0.1, momentum=0.5)
    params = spread_workers({"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}, num_workers)
    state = tx.init(params)
    state = state._replace(center=jax.tree.map(lambda c: c + 1.0, state.center))
    step = jax.jit(tx.update)
    local_step = jax.jit(jax.vmap(local.update))
    local_state = jax.vmap(local.init)(params)
    for t in range(10):
        grads = jax.vmap(jax.grad(loss))(params)
        updates, new_state = step(grads, state, params)
        plain, local_state = local_step(grads, local_state, params)
        center_moved = any(
            bool(jnp.any(a != b))
            for a, b in zip(
                jax.tree.leaves(new_state.center), jax.tree.leaves(state.center), strict=True
            )
        )
        pulled = any(
            bool(jnp.any(a != b))
            for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(plain), strict=True)
        )
        assert center_moved == (t % tau == 0), t
        assert pulled == (t % tau == 0), t
        if t % tau:  # between communications: exactly the local optimizer's step
            for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(plain), strict=True):
                np.testing.assert_array_equal(a, b)
        params, state = gdjax.apply_updates(params, updates), new_state


def test_elastic_step_moves_mass_from_the_workers_to_the_center():
    # With alpha = 1/K the sum of the workers and the center is unchanged by the
    # elastic step (the local step aside), and the center moves onto the workers' mean.
    num_workers = 4
    tx = easgd(gdjax.sgd(0.1), num_workers, alpha=1 / num_workers)
    x = jnp.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0], [-2.0, 5.0]])
    state = tx.init(x)._replace(center=jnp.array([10.0, -10.0]))
    updates, state = tx.update(jnp.zeros_like(x), state, x)
    new = gdjax.apply_updates(x, updates)
    np.testing.assert_allclose(state.center, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(
        new.sum(axis=0) + state.center, x.sum(axis=0) + jnp.array([10.0, -10.0]), rtol=1e-6
    )


# --------------------------------------------------------------------------- behaviour


def test_center_converges_on_the_noisy_bowl():
    starts = [[5.0, 3.0], [3.0, 4.0], [4.0, 2.0], [4.5, 3.5]]
    tx = easgd(gdjax.sgd(0.05), 4, alpha=0.9 / 4)
    xs, centers, center0 = landscape_run(landscapes.bowl, starts, tx, sigma=1.0, steps=400)
    to_min = np.linalg.norm(centers, axis=-1)
    workers_to_min = np.linalg.norm(xs, axis=-1).mean(axis=1)
    assert np.linalg.norm(center0) > 5.0
    assert to_min[-1] < 0.25
    assert to_min[200:].mean() < 0.12
    # The elastic average is closer to the minimum than the noisy workers are.
    assert to_min[200:].mean() < 0.85 * workers_to_min[200:].mean()


def test_workers_explore_while_the_center_converges_on_two_gaussians():
    land = landscapes.two_gaussians
    deep = np.array(land.minima[0].point)
    starts = [[1.5, 1.5], [-1.5, -1.5], [1.6, -1.2], [-1.8, 1.7]]
    tx = easgd(gdjax.sgd(0.1), 4, alpha=0.05, tau=4)
    xs, centers, center0 = landscape_run(land, starts, tx, sigma=0.7, steps=400)
    to_min = np.linalg.norm(centers - deep, axis=-1)
    spread = np.linalg.norm(xs - centers[:, None], axis=-1).mean(axis=1)
    assert np.linalg.norm(center0 - deep) > 1.0
    assert to_min[200:].mean() < 0.1  # the center settles on the deep minimum ...
    assert spread[200:].min() > 0.03  # ... while the workers keep exploring around it
    assert spread[200:].mean() > 2 * to_min[200:].mean()
    ends = [int(land.nearest_minimum(x)[0]) for x in xs[-1]]
    assert ends == [0, 0, 0, 0]
    # Without the elastic force the third worker stays in the shallow basin.
    alone, _, _ = landscape_run(land, starts, easgd(gdjax.sgd(0.1), 4, alpha=0.0), 0.7, 400)
    assert [int(land.nearest_minimum(x)[0]) for x in alone[-1]] == [0, 0, 1, 0]


def test_the_center_of_a_digits_mlp_reaches_a_good_test_accuracy():
    num_workers, steps, batch = 4, 300, 16
    split = datasets.digits()
    train = {k: jnp.asarray(v) for k, v in split.train.items()}
    test = {k: jnp.asarray(v) for k, v in split.test.items()}
    n = len(split.train["y"])
    tx = easgd(gdjax.sgd(2.0), num_workers, alpha=0.9 / num_workers, tau=4)

    def mean_loss(params, batch):
        return jnp.mean(models.mlp_loss(params, batch))

    @jax.jit
    def train_run(params, key):
        def step(carry, k):
            p, state = carry
            index = jax.random.randint(k, (num_workers, batch), 0, n)  # each worker its own
            grads = jax.vmap(jax.grad(mean_loss))(p, jax.tree.map(lambda a: a[index], train))
            updates, state = tx.update(grads, state, p)
            return (gdjax.apply_updates(p, updates), state), None

        carry = (params, tx.init(params))
        return jax.lax.scan(step, carry, jax.random.split(key, steps))[0]

    start = replicate_workers(models.mlp_init(jax.random.key(0), (64, 32, 10)), num_workers)
    _, state = train_run(start, jax.random.key(1))
    center = easgd_center(state)
    accuracy = float(jnp.mean(models.correct(models.mlp_apply(center, test["x"]), test["y"])))
    assert accuracy > 0.85, accuracy


# --------------------------------------------------------------------- hyperparameters as data


def test_alpha_is_data_vmapped_and_jitted_without_recompiling():
    starts = jnp.array([[1.0, 2.0], [2.0, -1.0]])
    grads = jnp.array([[0.5, -0.5], [1.0, 0.25]])

    def two_steps(alpha):
        tx = easgd(gdjax.sgd(0.1), 2, alpha=alpha)
        x, state = starts, tx.init(starts)
        for _ in range(2):
            updates, state = tx.update(grads, state, x)
            x = gdjax.apply_updates(x, updates)
        return x, state.center

    alphas = jnp.array([0.0, 0.1, 0.5])
    batched = jax.vmap(two_steps)(alphas)
    for i, alpha in enumerate([0.0, 0.1, 0.5]):
        x, center = two_steps(alpha)
        np.testing.assert_allclose(batched[0][i], x, rtol=1e-6)
        np.testing.assert_allclose(batched[1][i], center, rtol=1e-6)
    jitted = jax.jit(two_steps)
    jitted(jnp.float32(0.1))
    before = COMPILES.count
    jitted(jnp.float32(0.3))
    assert COMPILES.count == before
    # An Elasticity's rho and learning rate are data too; a schedule for the rate works.
    mean = starts.mean(axis=0)
    one_step = mean + 0.1 * (starts - mean).sum(axis=0)  # alpha = 0.1 * rho = 0.1

    @jax.jit
    def with_rho(rho):
        tx = easgd(gdjax.sgd(0.1), 2, Elasticity(rho, 0.1))
        _, state = tx.update(grads, tx.init(starts), starts)
        return state.center

    np.testing.assert_allclose(with_rho(jnp.float32(1.0)), one_step, rtol=1e-6)
    # vmapped over rho: one program, each rho's own center.
    centers = jax.vmap(with_rho)(jnp.array([0.0, 1.0], jnp.float32))
    np.testing.assert_allclose(centers[0], mean, rtol=1e-6)
    np.testing.assert_allclose(centers[1], one_step, rtol=1e-6)
    before = COMPILES.count
    with_rho(jnp.float32(0.5))
    assert COMPILES.count == before  # a new rho is new data, not a new program
    scheduled = easgd(gdjax.sgd(0.1), 2, Elasticity(1.0, lambda t: 0.1 / (1 + t)))
    _, state = scheduled.update(grads, scheduled.init(starts), starts)
    np.testing.assert_allclose(state.center, one_step, rtol=1e-6)


def test_easgd_is_a_pytree_of_its_moving_rate_and_the_local_hyperparameters():
    tx = easgd(gdjax.sgd(0.05, momentum=0.9), 4, alpha=0.2, tau=2)
    assert jax.tree.leaves(tx) == [0.9, 0.05, 0.2]  # local's (its init's, its update's), alpha
    assert jax.tree.structure(tx) == jax.tree.structure(
        easgd(gdjax.sgd(0.1, momentum=0.5), 4, alpha=0.1, tau=2)
    )
    # The number of workers and tau shape the program: structure, not data.
    for other in (
        easgd(gdjax.sgd(0.05, momentum=0.9), 2, alpha=0.2, tau=2),
        easgd(gdjax.sgd(0.05, momentum=0.9), 4, alpha=0.2, tau=3),
    ):
        assert jax.tree.structure(tx) != jax.tree.structure(other)
    schedule = gdjax.schedules.linear(0.1, 0.0, 10)
    scheduled = easgd(gdjax.sgd(0.05), 2, Elasticity(rho=0.5, learning_rate=schedule))
    assert jax.tree.leaves(scheduled) == [0.05, 0.5, *jax.tree.leaves(schedule)]


@pytest.mark.parametrize("tau", [1, 2])
def test_easgd_as_a_jit_argument_traces_once_and_stacks(tau):
    starts = jnp.array([[1.0, 2.0], [2.0, -1.0], [0.5, 0.0]])
    traces = []

    def run(tx, x):
        state = tx.init(x)
        for _ in range(3):
            updates, state = tx.update(jax.vmap(jax.grad(loss))(x), state, x)
            x = gdjax.apply_updates(x, updates)
        return x, state

    def make(lr, alpha):
        return easgd(gdjax.sgd(lr, momentum=0.5), 3, alpha=alpha, tau=tau)

    def as_argument(tx, x):
        traces.append(None)
        return run(tx, x)

    run_jitted = jax.jit(as_argument)
    settings = [(0.1, 0.1), (0.05, 0.3), (0.2, 0.0)]
    for lr, alpha in settings:
        tx = make(lr, alpha)
        got = run_jitted(tx, starts)
        want = jax.jit(lambda x, tx=tx: run(tx, x))(starts)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert len(traces) == 1
    stacked = jax.tree.map(lambda *x: jnp.stack(x), make(*settings[0]), make(*settings[1]))
    both = jax.jit(jax.vmap(run, in_axes=(0, None)))(stacked, starts)
    for i in range(2):
        alone = run_jitted(make(*settings[i]), starts)
        for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(alone), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-7)


def test_easgds_with_different_rho_stack_and_trace_once():
    starts = jnp.array([[1.0, 2.0], [2.0, -1.0]])
    grads = jnp.array([[0.5, -0.5], [1.0, 0.25]])
    traces = []

    @jax.jit
    def centers(tx):
        traces.append(None)
        _, state = tx.update(grads, tx.init(starts), starts)
        return state.center

    def make(rho):
        return easgd(gdjax.sgd(0.1), 2, Elasticity(rho, 0.1))

    alone = [centers(make(rho)) for rho in (0.0, 1.0)]
    assert len(traces) == 1  # rho is a leaf: a new rho is new data, not a new program
    stacked = jax.tree.map(lambda *x: jnp.stack(x), make(0.0), make(1.0))
    both = jax.vmap(centers)(stacked)
    for i in range(2):
        np.testing.assert_allclose(both[i], alone[i], rtol=1e-6)
    np.testing.assert_allclose(alone[0], starts.mean(axis=0), rtol=1e-6)  # rho = 0


def test_the_old_rho_and_learning_rate_keywords_are_gone():
    with pytest.raises(TypeError, match="rho"):
        easgd(LOCAL, 2, rho=1.0, learning_rate=0.1)


def test_low_precision_params_keep_their_dtype():
    params = replicate_workers({"w": jnp.ones((3,), jnp.bfloat16)}, 2)
    tx = easgd(gdjax.sgd(0.1), 2, alpha=jnp.float32(0.2))
    state = tx.init(params)
    updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    assert updates["w"].dtype == jnp.bfloat16
    assert state.center["w"].dtype == jnp.bfloat16 and state.center["w"].shape == (3,)


def test_the_center_is_found_inside_a_chain():
    params = replicate_workers(jnp.zeros(2), 3)
    chained = gdjax.chain(easgd(gdjax.sgd(0.1), 3, alpha=0.1), gdjax.identity())
    state = chained.init(params)
    np.testing.assert_array_equal(easgd_center(state), jnp.zeros(2))
    assert isinstance(state[0], EasgdState)
    with pytest.raises(ValueError, match="exactly one EasgdState, found 0"):
        easgd_center(gdjax.sgd(0.1).init(params))


# --------------------------------------------------------------------------- errors

LOCAL = gdjax.sgd(0.1)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_workers": 0, "alpha": 0.1}, ["num_workers", "integer >= 1", "got 0"]),
        ({"num_workers": 2.5, "alpha": 0.1}, ["num_workers", "got 2.5"]),
        ({"num_workers": True, "alpha": 0.1}, ["num_workers", "got True"]),
        ({"num_workers": "4", "alpha": 0.1}, ["num_workers", "got '4'"]),
        ({"num_workers": 2, "alpha": 0.1, "tau": 0}, ["tau", "integer >= 1", "got 0"]),
        ({"num_workers": 2, "alpha": 0.1, "tau": 1.5}, ["tau", "got 1.5"]),
        ({"num_workers": 2, "alpha": 0.6}, ["alpha", "[0, 1/num_workers] = [0, 0.5]", "0.6"]),
        ({"num_workers": 4, "alpha": -0.1}, ["alpha", "[0, 0.25]", "-0.1"]),
        ({"num_workers": 2, "alpha": float("nan")}, ["alpha", "nan"]),
        (
            {"num_workers": 2, "alpha": Elasticity(rho=-1.0, learning_rate=0.1)},
            ["alpha.rho", "[0, inf)", "-1.0"],
        ),
        (
            {"num_workers": 2, "alpha": Elasticity(rho=1.0, learning_rate=-0.1)},
            ["alpha.learning_rate", "[0, inf)", "-0.1"],
        ),
        (
            {"num_workers": 2, "alpha": Elasticity(rho=10.0, learning_rate=0.1)},
            ["alpha = learning_rate * rho", "[0, 0.5]", "1.0"],
        ),
        (
            {"num_workers": 2, "alpha": Elasticity(rho=lambda t: 1.0, learning_rate=0.1)},
            ["alpha.rho must be a number or an array"],
        ),
        ({"num_workers": 2, "alpha": None}, ["alpha", "must be in [0, 1/num_workers]"]),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, words):
    with pytest.raises(ValueError) as error:
        easgd(LOCAL, **kwargs)
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_traced_structural_ints_and_other_misuse_are_refused():
    with pytest.raises(ValueError, match="num_workers must be a concrete integer"):
        jax.jit(lambda k: easgd(LOCAL, k, alpha=0.1))(4)
    with pytest.raises(ValueError, match="tau must be a concrete integer"):
        jax.jit(lambda t: easgd(LOCAL, 2, alpha=0.1, tau=t))(2)
    with pytest.raises(TypeError, match="local must be a GradientTransformation"):
        easgd(0.1, 2, alpha=0.1)
    tx = easgd(LOCAL, 3, alpha=0.1)
    with pytest.raises(ValueError, match=re.escape("params['b'] has shape (2,)")):
        tx.init({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)})
    params = replicate_workers(jnp.zeros(2), 3)
    with pytest.raises(ValueError, match="update needs the workers' params"):
        tx.update(params, tx.init(params))
    with pytest.raises(ValueError, match="different shapes"):
        tx.update(jnp.zeros((3, 3)), tx.init(params), params)


def test_an_unknown_mesh_axis_is_refused_listing_the_meshs_axes():
    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    with pytest.raises(
        ValueError, match=re.escape("'workers' is not an axis of the mesh; its axes are ['data']")
    ):
        easgd(LOCAL, 2, alpha=0.1, mesh=mesh)
    with pytest.raises(ValueError, match=re.escape("its axes are ['data']")):
        shard_workers(jnp.zeros((2, 3)), mesh, axis="workers")
    tx = easgd(LOCAL, 2, alpha=0.1, mesh=mesh, axis="data")  # the mesh's own axis is fine
    assert tx.init(shard_workers(jnp.zeros((2, 3)), mesh, axis="data")).center.shape == (3,)


# --------------------------------------------------------------------------- four devices

SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, gdjax
    from jax.sharding import Mesh
    from gdjax.distributed import easgd, shard_workers
    from tests.distributed.test_easgd import noisy_grad, spread_workers
    from tests.helpers import nested_params
    assert len(jax.devices()) == 4, jax.devices()
    K = 8
    mesh = Mesh(np.array(jax.devices()), ("workers",))
    workers = jnp.arange(K)

    def run(tx, params, steps=40):
        @jax.jit
        def go(params, key):
            def step(carry, k):
                p, s = carry
                g = jax.vmap(noisy_grad, in_axes=(0, None, 0))(p, k, workers)
                u, s = tx.update(g, s, p)
                return (gdjax.apply_updates(p, u), s), None
            carry = (params, tx.init(params))
            return jax.lax.scan(step, carry, jax.random.split(key, steps))[0]
        return go(params, jax.random.key(0))

    params = spread_workers(nested_params(), K)
    local = gdjax.sgd(0.01, momentum=0.9, nesterov=True)  # EAMSGD
    single = run(easgd(local, K, alpha=0.1, tau=3), jax.device_put(params, jax.devices()[0]))
    pinned = run(easgd(local, K, alpha=0.1, tau=3, mesh=mesh), shard_workers(params, mesh))
    followed = run(easgd(local, K, alpha=0.1, tau=3), shard_workers(params, mesh))
    for sharded in (pinned, followed):
        p, s = sharded
        assert all(len(x.sharding.device_set) == 4 for x in jax.tree.leaves(p))
        assert all(x.sharding.is_fully_replicated for x in jax.tree.leaves(s.center))
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(sharded), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    assert not np.allclose(np.asarray(single[1].center["scale"]), 0.7 + 0.35)  # it moved
    try:
        easgd(local, 6, alpha=0.1, mesh=mesh)
    except ValueError as error:
        assert "num_workers=6 is not a multiple of the 4 devices" in str(error), error
    else:
        raise AssertionError("6 workers on 4 devices were accepted")
    print("sharded ok")
    """
)


def test_sharded_over_four_host_devices_equals_one_device():
    assert "sharded ok" in run_python("-c", SHARDED, devices=4)


# --------------------------------------------------------------------------- the example


def test_example_prints_its_numbers_and_writes_the_figure(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_python(str(ROOT / "examples" / "easgd.py"), "--quick", "--out", str(tmp_path))
    assert "with the elastic force: deep, deep, deep, deep (center: deep)" in out
    assert "without it (alpha=0): deep, deep, shallow, deep" in out
    last_half = re.search(r"last half: center ([\d.]+) from the deep minimum", out)
    assert last_half and float(last_half.group(1)) < 0.15, out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+200\s+0\.\d+", line)]
    assert rows and all(float(value) > 0.75 for value in rows[-1][1:]), out
    data = (tmp_path / "easgd.png").read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000


def _one_step(tx, params):
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    return tx.update(zeros, state, params)


def test_each_worker_draws_its_own_noise():
    # Identical workers, zero gradients: what moves them is the local optimizer's noise,
    # and the paper's workers each have their own (DESIGN §2, per-run randomness).
    num_workers = 4
    params = replicate_workers({"w": jnp.zeros(3), "b": jnp.zeros(())}, num_workers)
    tx = easgd(gdjax.noisy_sgd(0.1, eta=1.0, key=7), num_workers, alpha=0.1)
    updates, state = _one_step(tx, params)
    rows = np.asarray(updates["w"])
    assert np.all(rows != 0)
    assert len({tuple(row) for row in rows.tolist()}) == num_workers
    assert len(set(np.asarray(updates["b"]).tolist())) == num_workers
    # Worker i's noise comes from fold_in(key, i): reproducible from (key, i) alone.
    one = gdjax.noisy_sgd(0.1, eta=1.0, key=7)
    for i in range(num_workers):
        mine = jax.tree.map(lambda x, i=i: x[i], params)
        alone = gdjax.keys.for_run(one.init(mine), i)
        u, _ = one.update(jax.tree.map(jnp.zeros_like, mine), alone, mine)
        np.testing.assert_array_equal(rows[i], u["w"])
    # Built and run again: bit for bit the same.
    again, state_again = _one_step(tx, params)
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    keys = [x for x in jax.tree.leaves(state) if gdjax.keys.is_key(x)]
    keys_again = [x for x in jax.tree.leaves(state_again) if gdjax.keys.is_key(x)]
    assert len(keys) == 1
    np.testing.assert_array_equal(jax.random.key_data(keys[0]), jax.random.key_data(keys_again[0]))


def test_a_local_optimizer_without_keys_is_initialised_as_before():
    num_workers = 3
    params = spread_workers(nested_params(), num_workers)
    local = gdjax.adam(0.02)
    tx = easgd(local, num_workers, alpha=0.2)
    state = tx.init(params)
    expected = jax.vmap(local.init, axis_size=num_workers)(params)
    assert jax.tree.structure(state.local_state) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(state.local_state), jax.tree.leaves(expected), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    grads = jax.vmap(jax.grad(loss))(params)
    got, _ = tx.update(grads, state, params)
    want, _ = tx.update(grads, state._replace(local_state=expected), params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)
