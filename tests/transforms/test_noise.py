import jax
import jax.numpy as jnp
import numpy as np
import optax

import gdjax
from tests.helpers import assert_trees_close, nested_params, run


def test_matches_optax_draw_for_draw():
    params = nested_params()
    for key in (0, 7):
        got, _ = run(gdjax.chain(gdjax.add_noise(0.3, 0.55, key), gdjax.scale(-0.01)), params)
        want, _ = run(optax.chain(optax.add_noise(0.3, 0.55, key), optax.scale(-0.01)), params)
        assert_trees_close(got, want)


def test_variance_is_annealed_as_eta_over_one_plus_t_to_the_gamma():
    eta, gamma = 0.5, 0.55
    tx = gdjax.add_noise(eta, gamma, key=3)
    zeros = jnp.zeros(200_000)
    state = tx.init(zeros)
    for t in range(4):
        u, state = tx.update(zeros, state)
        np.testing.assert_allclose(np.var(np.asarray(u)), eta / (1 + t) ** gamma, rtol=0.02)


def test_the_same_key_gives_the_same_noise_and_another_key_other_noise():
    g = jnp.zeros(5)

    def draw(key):
        tx = gdjax.add_noise(key=key)
        return tx.update(g, tx.init(g))[0]

    np.testing.assert_array_equal(draw(1), draw(1))
    assert not np.allclose(draw(1), draw(2))
    np.testing.assert_array_equal(draw(jax.random.key(1)), draw(1))


def test_the_key_is_data_a_stack_of_seeds_vmaps_into_the_separate_runs():
    g = jnp.zeros(4)
    for keys in ((1, 2, 3), tuple(jax.random.key(k) for k in (1, 2, 3))):
        txs = [gdjax.add_noise(0.3, 0.55, key) for key in keys]
        assert len({jax.tree.structure(tx) for tx in txs}) == 1
        stacked = jax.tree.map(lambda *x: jnp.stack(x), *txs)
        drawn, _ = jax.vmap(lambda tx: tx.update(g, tx.init(g)))(stacked)
        for i, tx in enumerate(txs):
            np.testing.assert_array_equal(drawn[i], tx.update(g, tx.init(g))[0])
