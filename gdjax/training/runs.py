"""The grid of runs of `fit_many`: every hyperparameter setting from every seed.

Seed ``s`` draws its initial params (and model state) from ``fold_in(key(s), 0)`` and shuffles with
``fold_in(key(s), 1)``; run ``r`` (C order over ``(settings, seeds)``) folds ``r``
into every key of its optimizer state, and a ``make_optimizer`` that takes a
``key`` gets ``fold_in(fold_in(key(s), 2), r)``.

Every run's optimizer is built before the program, all at once
(`gdjax.bound.stacked_calls`, with the run's settings and key as columns): the
program takes their data, stacked on the run axes, and is cached on their
shared skeleton, so another grid of the same kind compiles nothing. A
``make_optimizer`` whose calls share no skeleton (it builds closures: an optax
optimizer) is called inside the program instead, with each run's settings.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdjax.base import GradientTransformation
from gdjax.bound import stacked_calls
from gdjax.keys import for_run, is_key
from gdjax.training.driver import Runs
from gdjax.training.hooks import copy
from gdjax.training.program import Filled, cached


def grid(
    init: Callable[[jax.Array], Any] | Any,
    make_optimizer: Callable[..., GradientTransformation],
    seeds: Sequence[int] | int,
    settings: Mapping[str, Any] | None,
    model_state: Callable[[jax.Array], Any] | Any = None,
) -> tuple[Runs, Callable[[Any], GradientTransformation]]:
    """The runs of `fit_many`, and how each builds its optimizer from its ``hyper``.
    Each run's model state, like its params, is ``model_state(fold_in(key(s), 0))``
    or ``model_state`` broadcast (None: no model state)."""
    seeds = seed_list(seeds)
    columns = setting_columns(settings or {})
    count = len(next(iter(columns.values()))) if columns else 1
    keys, data_keys, optimizer_keys = _run_keys(
        jnp.asarray(seeds), count, takes_key(make_optimizer, columns)
    )
    identity = {"seeds": seeds}
    for name, column in columns.items():
        identity[f"settings[{name!r}]"] = column
    hyper = run_hyper(columns, keys.shape, optimizer_keys)
    stacked = _stacked(make_optimizer, hyper)
    if stacked is None:  # built inside the program, from each run's settings
        per_run = _PerRun(make_optimizer, built=False)
    else:
        data, skeleton = stacked
        hyper = {"optimizer": data, "run": hyper["run"]}
        per_run = _PerRun(Filled(skeleton), built=True)
    states = None if model_state is None else initial_params(model_state, keys)
    return Runs(initial_params(init, keys), hyper, data_keys, identity, states), per_run


def _stacked(make_optimizer: Callable[..., GradientTransformation], hyper: dict) -> Any:
    """``(data, skeleton)``: every run's optimizer data, each leaf with the run axes in
    front, and the skeleton they share; None when the calls share none (see
    `gdjax.bound.stacked_calls`). Each run's call gets its settings and, if asked
    for, its key: the same arguments as a call inside the program."""
    grid = hyper["run"].shape
    columns = {name: column.reshape(-1) for name, column in hyper["settings"].items()}
    if "key" in hyper:
        columns["key"] = hyper["key"].reshape(-1)
    found = stacked_calls(make_optimizer, columns)
    if found is None:
        return None
    data, skeleton = found
    # One row per run, or one row (no settings, no key) for every run.
    size = hyper["run"].size
    data = [
        x.reshape(*grid, *x.shape[1:])
        if len(x) == size
        else jnp.broadcast_to(x[0], (*grid, *x.shape[1:]))
        for x in data
    ]
    return data, skeleton


# Up to this many runs, one compiled ``init`` is called run by run: XLA compiles a
# vmapped init (its threefry draws) several times slower than the init alone, and
# again for every run count, while the per-run calls give the same bits.
ONE_BY_ONE = 64


def initial_params(init: Callable[[jax.Array], Any] | Any, keys: jax.Array) -> Any:
    """Every run's params: ``init(fold_in(key, 0))`` per seed, or ``init`` itself (a
    params pytree) broadcast to the run axes ``keys.shape``."""
    shape = keys.shape
    if not callable(init):
        return copy(
            jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (*shape, *jnp.shape(x))), init)
        )
    impl = jax.random.key_impl(keys)
    arguments, structure = _init_data(init)

    def one(arguments: list, data: jax.Array) -> Any:
        call = init if structure is None else jax.tree.unflatten(structure, arguments)
        return call(jax.random.fold_in(jax.random.wrap_key_data(data, impl=impl), 0))

    # Kept on the init's structure when its floats are arguments, else on the init.
    identity = (init if structure is None else structure, str(impl))
    # On the host: iterating over a device array compiles an unstack per run count.
    data = np.asarray(jax.random.key_data(keys)).reshape(keys.size, -1)
    if data.shape[0] <= ONE_BY_ONE:
        program = cached(("initial params", *identity), lambda: jax.jit(one))
        # Stacked where they were drawn: no round trip through the host.
        return _stacked_on_run_axes(shape, [program(arguments, row) for row in data])
    program = cached(
        ("initial params, vmapped", *identity), lambda: jax.jit(jax.vmap(one, in_axes=(None, 0)))
    )
    return _on_run_axes(shape, program(arguments, data))


def _init_data(init: Callable[[jax.Array], Any]) -> tuple[list, Any]:
    """``(floats, structure)`` of an init that is a pytree of floating-point numbers
    around its function (a `jax.tree_util.Partial`, say of an init scale): they are its
    program's arguments, so inits that differ only in them share one compiled program
    (XLA compiles an init's threefry draws slowly: seconds for an MLP's). Else
    ``([], None)``: the program closes over ``init`` (integers, such as layer sizes,
    stay constants: shapes are made of them)."""
    leaves, structure = jax.tree.flatten(init)
    if jax.tree_util.treedef_is_leaf(structure) or not all(map(_floating, leaves)):
        return [], None
    return leaves, structure


def _floating(leaf: Any) -> bool:
    if isinstance(leaf, (np.ndarray, np.generic, jax.Array)):
        return jnp.issubdtype(leaf.dtype, jnp.floating)
    return isinstance(leaf, float)


# The grid's arrays are made by small programs cached per grid shape: as eager ops, each
# compiled on its own for every new shape (about 0.5 s for a new grid's setup).


@functools.partial(jax.jit, static_argnums=(1, 2))
def _run_keys(seeds: jax.Array, count: int, takes_key: bool) -> tuple[jax.Array, ...]:
    """The run axes ``(count, seeds)``: each run's seed's key, the key its batches shuffle
    with, and the key its ``make_optimizer`` gets (None without ``takes_key``)."""
    keys = jnp.broadcast_to(jax.vmap(jax.random.key)(seeds), (count, seeds.shape[0]))
    flat = keys.reshape(-1)  # the runs in C order
    data_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(flat).reshape(keys.shape)
    if not takes_key:
        return keys, data_keys, None
    fold = jax.vmap(lambda k, r: jax.random.fold_in(jax.random.fold_in(k, 2), r))
    optimizer_keys = fold(flat, jnp.arange(flat.size, dtype=jnp.int32))
    return keys, data_keys, optimizer_keys.reshape(keys.shape)


@functools.partial(jax.jit, static_argnums=0)
def _stacked_on_run_axes(shape: tuple[int, ...], trees: list) -> Any:
    """One pytree of the runs' ``trees`` (C order), each leaf with the run axes ``shape``."""
    return jax.tree.map(lambda *xs: jnp.stack(xs).reshape(*shape, *xs[0].shape), *trees)


@functools.partial(jax.jit, static_argnums=0)
def _on_run_axes(shape: tuple[int, ...], tree: Any) -> Any:
    """``tree``'s leaves, whose leading axis is the flat runs, with the run axes ``shape``."""
    return jax.tree.map(lambda x: x.reshape(*shape, *x.shape[1:]), tree)


@dataclasses.dataclass(frozen=True)
class _PerRun:
    """``hyper -> optimizer`` of one run, with an ``init`` that makes the state's keys
    the run's own (``for_run`` with the run's index).

    ``built``: ``make_optimizer`` is a `Filled` skeleton and ``hyper["optimizer"]``
    its data; else ``make_optimizer`` is the user's, called with the run's settings
    (and key). Compared by value, so equal grids share their compiled programs.
    """

    make_optimizer: Callable[..., GradientTransformation]
    built: bool

    def __call__(self, hyper: dict) -> GradientTransformation:
        if self.built:
            optimizer = self.make_optimizer(hyper["optimizer"])
        else:
            extra = {"key": hyper["key"]} if "key" in hyper else {}
            optimizer = self.make_optimizer(**hyper["settings"], **extra)
        # init is written for one run: the run's index makes its keys its own.
        return optimizer._replace(init=lambda p: for_run(optimizer.init(p), hyper["run"]))


def seed_list(seeds: Sequence[int] | int) -> np.ndarray:
    listed = np.arange(seeds) if isinstance(seeds, int) else np.asarray(seeds)
    if listed.ndim != 1 or listed.size == 0 or not np.issubdtype(listed.dtype, np.integer):
        raise ValueError(
            f"fit_many: seeds must be a non-empty list of ints or a count, got {seeds!r}"
        )
    return listed.astype(np.int64)


_INT32 = np.iinfo(np.int32)


def _setting_column(name: str, values: Any) -> Any:
    """One setting's values as a 1-D array of their own kind (float32 for Python
    floats, int32 for ints, bools, typed keys): a cast to float would break an
    integer argument (a key seed, a patience)."""
    if is_key(values):
        column = values
    else:
        column = np.asarray(values)
        if np.issubdtype(column.dtype, np.integer) and column.dtype != bool:
            if column.size and (column.min() < _INT32.min or column.max() > _INT32.max):
                raise ValueError(
                    f"fit_many: settings[{name!r}] holds ints beyond int32, which JAX "
                    f"computes in; got {values!r}"
                )
            column = column.astype(np.int32)
        elif column.dtype == np.float64:
            column = column.astype(np.float32)  # Python floats: JAX's default precision
        elif column.dtype != bool and not jnp.issubdtype(column.dtype, jnp.floating):
            raise ValueError(
                f"fit_many: settings[{name!r}] must hold numbers, bools or typed PRNG keys, "
                f"one per setting; got {values!r}"
            )
    if column.ndim > 1:
        raise ValueError(
            f"fit_many: settings[{name!r}] must be a list of values, one per setting; "
            f"got shape {column.shape}"
        )
    return column.reshape(-1)


def setting_columns(settings: Mapping[str, Any]) -> dict[str, Any]:
    columns = {name: _setting_column(name, values) for name, values in settings.items()}
    if len({len(c) for c in columns.values()}) > 1:
        raise ValueError(
            "fit_many: the settings are zipped, so every list must have the same length; got "
            + ", ".join(f"{n}: {len(c)}" for n, c in columns.items())
        )
    return columns


def takes_key(make_optimizer: Callable, columns: Mapping[str, Any]) -> bool:
    """Whether ``make_optimizer`` names a ``key`` parameter that no setting fills."""
    try:
        parameters = inspect.signature(make_optimizer).parameters
    except (TypeError, ValueError):  # builtins and C functions without a signature
        return False
    return "key" in parameters and "key" not in columns


def run_hyper(
    columns: Mapping[str, Any], grid: tuple[int, ...], optimizer_keys: jax.Array | None
) -> dict:
    """What each run's optimizer is built from, every leaf with the run axes ``grid``:
    its settings, its flat index ``r`` in C order and, if given, its own key."""
    size = int(np.prod(grid))
    hyper = {
        "settings": {name: _broadcast_column(column, grid) for name, column in columns.items()},
        "run": np.arange(size, dtype=np.int32).reshape(grid),
    }
    if optimizer_keys is not None:
        hyper["key"] = optimizer_keys
    return hyper


def _broadcast_column(column: Any, grid: tuple[int, ...]) -> Any:
    """A setting's column (one value per setting) on the run axes; NumPy where it can be,
    so that nothing compiles (typed keys are JAX's alone)."""
    if is_key(column):
        return jnp.broadcast_to(column[:, None], grid)
    return np.broadcast_to(column[:, None], grid)
