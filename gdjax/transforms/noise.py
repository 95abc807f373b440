"""Annealed Gaussian gradient noise (Neelakantan et al. 2015; seed 002 §6.4)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdjax import tree
from gdjax._validation import check_range, named
from gdjax.base import GradientTransformation
from gdjax.bound import bind
from gdjax.keys import as_key


class AddNoiseState(NamedTuple):
    """Step count and the PRNG key of the next draw."""

    count: jax.Array
    rng_key: jax.Array


def _add_noise_init(params, *, key, owner, name):
    del params
    return AddNoiseState(count=tree.zero_count(), rng_key=as_key(key, owner, name))


def _add_noise_update(updates, state, params=None, *, eta, gamma):
    del params
    count = tree.safe_increment(state.count)
    std = jnp.sqrt(eta / count**gamma)
    next_key, draw_key = jax.random.split(state.rng_key)
    treedef = jax.tree.structure(updates)
    keys = jax.tree.unflatten(treedef, list(jax.random.split(draw_key, treedef.num_leaves)))
    out = tree.map(
        lambda g, k: g + std.astype(g.dtype) * jax.random.normal(k, g.shape, g.dtype),
        updates,
        keys,
    )
    return out, AddNoiseState(count=count, rng_key=next_key)


def add_noise(eta: Any = 0.01, gamma: Any = 0.55, key: Any = 0) -> GradientTransformation:
    """Adds annealed Gaussian noise to the updates.


        sigma_t**2 = eta / (1 + t)**gamma          (t = 0, 1, 2, ...)
        u_t = g_t + N(0, sigma_t**2)               (independently per coordinate)

    Neelakantan et al. (2015), "Adding gradient noise improves learning for very
    deep networks", use eta in {0.01, 0.3, 1.0} and gamma = 0.55. The draws for
    one step come from one split of the key in the state, one sub-key per leaf,
    so a run is reproducible from ``key`` (and identical to optax's
    ``add_noise(eta, gamma, key)``).

    Args:
      eta: the initial variance, >= 0. Default 0.01.
      gamma: the annealing exponent, >= 0. Default 0.55.
      key: an int seed or a JAX PRNG key. Default 0.
    """
    check_range("add_noise", "eta", eta, "[0, inf)")
    check_range("add_noise", "gamma", gamma, "[0, inf)")
    # Named now, in the words of an alias that builds this (noisy_sgd), for init's check too.
    key_owner, key_name = named("add_noise", "key")
    if not isinstance(key, jax.core.Tracer):
        as_key(key, key_owner, key_name)  # refuse a bad key here, not at init
    # The key (a seed or a typed key) is data: a stack of optimizers may hold one per run.
    return GradientTransformation(
        bind(_add_noise_init, key=key, owner=key_owner, name=key_name),
        bind(_add_noise_update, eta=eta, gamma=gamma),
    )
