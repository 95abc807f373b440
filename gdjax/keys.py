"""PRNG keys: what counts as one, and how each run of an ensemble gets its own.

Many runs of gdjax run as one program (the starts of `gdjax.trajectories.run`,
the settings of `gdjax.trajectories.sweep`, the seeds and settings of
`gdjax.training.fit_many`, the workers of `gdjax.distributed.easgd`), and each
must be a run of its own: its own noise, not a copy of its neighbour's. An
optimizer's ``init`` is written for one run, so a key it puts in its state
(`gdjax.add_noise`'s, say) would be the same in every run. `for_run` is the
one place that makes them differ: the ensemble initialises each run's state
and folds the run's index into every key leaf, so run ``r`` draws from
``fold_in(key, r)``: independent of the others, and reproducible from
``(key, r)`` alone.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

ALLOWED = (
    "an int seed, a NumPy or JAX integer scalar, a typed PRNG key (jax.random.key) or "
    "a legacy uint32 key (jax.random.PRNGKey)"
)

KeyLike = int | np.integer | np.ndarray | jax.Array
"""What `as_key` accepts as one key (see `ALLOWED`): the annotation of a key argument."""


def is_key(x: Any) -> bool:
    """Whether ``x`` is a typed PRNG key array (``jax.random.key``), a tracer too."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def as_key(key: Any, owner: str = "key", name: str = "key") -> jax.Array:
    """One typed PRNG key from any of the usual spellings of one.

    Accepts an int seed, a NumPy or JAX integer scalar (a tracer too, so a
    grid axis of seeds works), a typed key, or the raw ``uint32`` data of a
    legacy key (``jax.random.PRNGKey(0)``, shape ``(2,)``). Anything else, a
    bool or a float or a batch of keys, is refused with a ``ValueError`` that
    names ``owner`` and ``name``.
    """
    if is_key(key):
        if jnp.shape(key) != ():
            raise ValueError(f"{owner}: {name} must be one key, got keys of shape {key.shape}")
        return key
    dtype = getattr(key, "dtype", None)
    if isinstance(key, bool) or (dtype is not None and jnp.dtype(dtype) == jnp.bool_):
        raise ValueError(f"{owner}: {name} must be {ALLOWED}; got the bool {key!r}")
    if isinstance(key, (int, np.integer)):
        return jax.random.key(key)
    if dtype is not None and jnp.issubdtype(dtype, jnp.integer):
        if jnp.shape(key) == ():
            return jax.random.key(key)
        if dtype == jnp.uint32:
            legacy = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0))).shape
            if jnp.shape(key) == legacy:
                return jax.random.wrap_key_data(jnp.asarray(key))
            raise ValueError(
                f"{owner}: {name} must be {ALLOWED}; got uint32 data of shape "
                f"{jnp.shape(key)}, where a legacy key has shape {legacy}"
            )
    raise ValueError(f"{owner}: {name} must be {ALLOWED}; got {key!r}")


def for_run(state: Any, index: Any) -> Any:
    """The state of run ``index`` of an ensemble: ``index`` folded into every key leaf.

    ``state`` is what an ``init`` returned for one run; every leaf that is a
    typed PRNG key becomes ``jax.random.fold_in(key, index)``, every other
    leaf is returned as it is (so a state without keys is unchanged, and
    nothing in it gains a run axis). ``index`` may be traced: an ensemble
    vmaps this over ``arange(runs)``. Legacy ``uint32`` keys cannot be told
    from data and are left alone; gdjax's transforms hold typed keys.
    """
    return jax.tree.map(lambda x: jax.random.fold_in(x, index) if is_key(x) else x, state)
