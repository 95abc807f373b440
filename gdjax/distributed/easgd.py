"""Elastic averaging SGD (EASGD): K workers tied to a center variable by an elastic force.

Zhang, Choromanska & LeCun, "Deep learning with Elastic Averaging SGD", NIPS 2015
(arXiv:1412.6651); seed 002 §5.5. Each of ``K`` workers keeps its own parameters
``x^i`` and takes steps of its own local optimizer on its own gradients (its own
data, minibatches, noise); a center variable ``x̃`` (the parameter server's
copy) is linked to every worker by an elastic force of strength ``ρ``. With the
moving rate ``α = η ρ`` the synchronous update is the paper's Eqs. (5)-(6):

    x^i_{t+1} = x^i_t - η g^i_t(x^i_t) - α (x^i_t - x̃_t)        i = 1..K   (5)
    x̃_{t+1}  = x̃_t + α Σ_i (x^i_t - x̃_t)
             = (1 - Kα) x̃_t + Kα · mean_i x^i_t                              (6)

Both right-hand sides use the values at step ``t``: the gradient and the
elastic differences are taken at the same, pre-update ``x^i_t`` and ``x̃_t``,
and what the workers lose to the elastic force the center gains
(``Σ_i x^i + x̃`` is unchanged by it). With a communication period ``τ`` the
workers and the center talk only at the steps ``t`` that ``τ`` divides (the
``if τ divides t`` of the paper's Algorithm 1, here synchronous); in between
each worker takes plain local steps and the center stays put.

Here the local step ``-η g`` is any `GradientTransformation`: ``gdjax.sgd(η)``
is the paper's EASGD, ``gdjax.sgd(η, momentum=δ, nesterov=True)`` its EAMSGD
(Algorithm 2) in the Sutskever form that gdjax's `trace` uses (the elastic
force then acts on the stored look-ahead parameters), and Adam, RMSProp or a
chain with clipping work the same way. ``η`` lives in the local optimizer;
`easgd` takes the moving rate ``α``: a value, a schedule, or ``ρ`` and ``η`` as
one small record, ``Elasticity(rho, learning_rate)``, from which it forms
``α = η ρ``. Put per-worker transformations (clipping, weight decay, noise)
inside the local optimizer: one chained outside `easgd` sees all the workers at
once (``clip_by_global_norm`` would take the norm over all of them).

The workers are a leading axis of length ``K`` on every leaf of the params,
the gradients and the local optimizer's state, so the user's loop is the usual
one, with the per-worker gradients from ``jax.vmap``:

    tx = easgd(gdjax.sgd(0.05), num_workers=4, alpha=0.9 / 4, tau=4)
    params = replicate_workers(params0, 4)                 # x^i_0 = x_0, leaves (4, ...)
    state = tx.init(params)                                # x̃_0 = mean_i x^i_0
    grads = jax.vmap(jax.grad(loss))(params, batches)      # each worker its own batch
    updates, state = tx.update(grads, state, params)
    params = gdjax.apply_updates(params, updates)
    center = easgd_center(state)                           # x̃, without the worker axis

``init`` starts the center at the workers' mean, which is the common start
``x_0`` when every worker starts there (`replicate_workers`, the paper's
initialisation); replace it with ``state._replace(center=...)``. Worker ``i``'s
local state is ``local.init(x^i_0)`` with ``i`` folded into every PRNG key in it
(`gdjax.keys.for_run`), so a stochastic local optimizer (``gdjax.noisy_sgd``)
draws independent noise in every worker, reproducible from ``(key, i)``; a state
without keys is ``local.init``'s, unchanged. Extra keyword arguments of
``update`` reach the local optimizer per worker (leading axis ``K``), e.g.
``value=losses`` for `gdjax.reduce_on_plateau`.

On one device the worker axis is a ``vmap`` axis. The same program runs with
it split over the devices of a mesh: put the params (and the batches) with
`shard_workers` (``NamedSharding(mesh, P("workers"))`` on the leading axis) and
``jit`` the step; XLA's SPMD partitioner keeps each worker's parameters,
gradients and optimizer state on its device and turns the ``Σ_i`` of Eq. (6)
into an all-reduce, run only at communication steps (a ``lax.cond``). Passing
``mesh=`` to `easgd` pins those layouts inside the step (the worker trees along
the axis, the center and the step count replicated).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gdjax import keys, tree
from gdjax._validation import _concrete, check_range, check_step
from gdjax.base import GradientTransformation, OptState, Params, extra_args_filter, value_at
from gdjax.bound import Static, bind

__all__ = [
    "EasgdState",
    "Elasticity",
    "easgd",
    "easgd_center",
    "replicate_workers",
    "shard_workers",
]


class EasgdState(NamedTuple):
    """The state of `easgd`.

    Attributes:
      count: steps taken so far, ``t`` (an int32 scalar that saturates).
      center: the center variable ``x̃_t``: a tree like one worker's params
        (no worker axis).
      local_state: the local optimizer's state, one per worker: every leaf has
        a leading axis of length ``K``.
    """

    count: jax.Array
    center: Params
    local_state: OptState


class Elasticity(NamedTuple):
    """The moving rate as the paper writes it: ``α = learning_rate · rho = η ρ``.

    Zhang, Choromanska & LeCun 2015, Eqs. (5)-(6), use ``α = η ρ``. Pass it as
    `easgd`'s ``alpha``; a schedule ``learning_rate`` is evaluated at each step.
    A pytree: its numbers are data, like any hyperparameter (``jax.vmap`` over
    ``rho`` compiles once).

    Attributes:
      rho: the elasticity ``ρ >= 0``, a float or an array.
      learning_rate: the workers' ``η >= 0``: a float, an array or a schedule
        ``step -> η``. It does not set the local optimizer's rate.
    """

    rho: Any
    learning_rate: Any


# --------------------------------------------------------------------------- checks


def _structural_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """A Python (or NumPy, or concrete) integer >= ``minimum``: it fixes shapes or the
    communication schedule, so it cannot be traced."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"{owner}: {name} must be a concrete integer >= {minimum} (it fixes the program's "
            f"structure, so it cannot be a traced value), got {value!r}"
        )
    return check_step(owner, name, value, minimum)


def _check_alpha(owner: str, value: Any, num_workers: int, name: str) -> None:
    """``α`` in ``[0, 1/K]``: the center moves ``Kα`` of the way to the workers' mean (Eq. 6)."""
    bound = 1.0 / num_workers
    try:
        check_range(owner, name, value, f"[0, {bound!r}]")
    except ValueError as error:
        got = str(error).rsplit(", got ", 1)[-1]
        raise ValueError(
            f"{owner}: {name} must be in [0, 1/num_workers] = [0, {bound:g}] for "
            f"num_workers={num_workers} (the center moves num_workers * alpha of the way to "
            f"the workers' mean, Eq. 6), got {got}"
        ) from None


def _workers(owner: str, tree_: Any, num_workers: int, name: str) -> None:
    """Every leaf must carry the leading worker axis of length ``num_workers``."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree_)[0]:
        shape = tuple(jnp.shape(leaf))
        if not shape or shape[0] != num_workers:
            raise ValueError(
                f"{owner}: every leaf of the {name} needs a leading worker axis of length "
                f"num_workers={num_workers}; {name}{jax.tree_util.keystr(path)} has shape "
                f"{shape}. Stack one copy per worker, e.g. replicate_workers(params, "
                f"{num_workers}), and compute the gradients with jax.vmap over the workers"
            )


def _check_moving_rate(owner: str, alpha: Any, num_workers: int) -> None:
    """The moving rate in ``[0, 1/num_workers]``, checked where its values are concrete."""
    if not isinstance(alpha, Elasticity):
        _check_alpha(owner, alpha, num_workers, "alpha")
        return
    if callable(alpha.rho):
        raise ValueError(f"{owner}: alpha.rho must be a number or an array, got {alpha.rho!r}")
    check_range(owner, "alpha.rho", alpha.rho, "[0, inf)")
    check_range(owner, "alpha.learning_rate", alpha.learning_rate, "[0, inf)")
    rate, elasticity = _concrete(alpha.learning_rate), _concrete(alpha.rho)
    if rate is not None and elasticity is not None:  # tracers and schedules: data
        product = rate.astype(np.float64) * elasticity.astype(np.float64)
        _check_alpha(owner, product, num_workers, "alpha = learning_rate * rho")


def _check_local(owner: str, local: Any) -> None:
    if not (callable(getattr(local, "init", None)) and callable(getattr(local, "update", None))):
        raise TypeError(
            f"{owner}: local must be a GradientTransformation (e.g. gdjax.sgd(0.05)), got {local!r}"
        )


def _check_mesh(owner: str, mesh: Any, axis: str, num_workers: int) -> None:
    if not isinstance(mesh, Mesh):
        raise ValueError(f"{owner}: mesh must be a jax.sharding.Mesh, got {mesh!r}")
    if axis not in mesh.axis_names:
        raise ValueError(
            f"{owner}: axis {axis!r} is not an axis of the mesh; its axes are "
            f"{list(mesh.axis_names)}"
        )
    devices = int(mesh.shape[axis])
    if num_workers % devices:
        raise ValueError(
            f"{owner}: num_workers={num_workers} is not a multiple of the {devices} devices "
            f"along mesh axis {axis!r}: each device must hold the same number of workers"
        )


# --------------------------------------------------------------------------- the step


def _moving_rate(count: jax.Array, alpha: Any) -> Any:
    """``α`` at step ``count``: a value, a schedule's value, or an `Elasticity`'s ``η ρ``."""
    if isinstance(alpha, Elasticity):
        return value_at(alpha.learning_rate, count) * alpha.rho
    return value_at(alpha, count)


def _along_workers(x: Any, mesh: Mesh | None, axis: str) -> Any:
    """With a mesh, pins every leaf's leading (worker) axis to the mesh's ``axis``."""
    if mesh is None:
        return x
    spread = NamedSharding(mesh, P(axis))
    return jax.tree.map(lambda leaf: jax.lax.with_sharding_constraint(leaf, spread), x)


def _everywhere(x: Any, mesh: Mesh | None) -> Any:
    """With a mesh, replicates every leaf on it (the center and the step count)."""
    if mesh is None:
        return x
    replicated = NamedSharding(mesh, P())
    return jax.tree.map(lambda leaf: jax.lax.with_sharding_constraint(leaf, replicated), x)


def _mean_of_workers(x: jax.Array) -> jax.Array:
    # x^1 + mean_i (x^i - x^1): exactly x_0 when every worker starts at x_0.
    first = x[0]
    return (first + jnp.mean(x - first, axis=0)).astype(x.dtype)


def _easgd_init(params: Params, *, local_init, num_workers, mesh, axis) -> EasgdState:
    tree.check_floating(params, "easgd")
    _workers("easgd", params, num_workers, "params")
    params = _along_workers(params, mesh, axis)

    def worker_init(worker_params, worker):
        # local_init is written for one run: a key in its state (noisy_sgd's) would
        # be every worker's. Folding in the worker's index gives each its own noise.
        return keys.for_run(local_init(worker_params), worker)

    center = jax.tree.map(_mean_of_workers, params)
    local_state = jax.vmap(worker_init)(params, jnp.arange(num_workers))
    return EasgdState(
        count=_everywhere(tree.zero_count(), mesh),
        center=_everywhere(center, mesh),
        local_state=_along_workers(local_state, mesh, axis),
    )


def _communicate(operands):
    local_updates, params, center, rate = operands
    # The elastic differences α (x^i_t - x̃_t), at the values of step t.
    elastic = tree.map(
        lambda x, c: tree.scale(rate, x - c), params, center, names=("params", "center")
    )
    # What the workers lose, the center gains: x̃ + Σ_i α (x^i - x̃)   (Eq. 6).
    new_center = jax.tree.map(
        lambda c, e: (c + jnp.sum(e, axis=0)).astype(c.dtype), center, elastic
    )
    # x^i + u^i - α (x^i - x̃)   (Eq. 5).
    out = jax.tree.map(lambda u, e: u - e.astype(u.dtype), local_updates, elastic)
    return out, new_center


def _wait(operands):
    local_updates, _, center, _ = operands
    return local_updates, center


def _check_update(updates: Any, state: Any, params: Any, num_workers: int) -> None:
    """``update``'s inputs: the workers' params and updates, and easgd's own state."""
    owner = "easgd"
    if params is None:
        raise ValueError(
            f"{owner}: update needs the workers' params (the elastic force pulls them "
            "toward the center): tx.update(grads, state, params)"
        )
    if not isinstance(state, EasgdState):
        raise ValueError(
            f"{owner}: the state must be the EasgdState that easgd's init returned, "
            f"got {type(state).__name__}"
        )
    _workers(owner, params, num_workers, "params")
    tree.check_shapes(params, updates, ("params", "updates"))
    tree.check_structure(params, state.center, ("params", "state"))


def _easgd_update(
    updates,
    state,
    params=None,
    *,
    local_update,
    alpha,
    tau,
    mesh,
    axis,
    num_workers,
    **extra,
):
    _check_update(updates, state, params, num_workers)
    keep = extra_args_filter(local_update)
    local_updates, local_state = jax.vmap(
        lambda g, s, p, e: local_update(g, s, p, **e), axis_size=num_workers
    )(updates, state.local_state, params, keep(extra))
    local_updates = tree.cast_like(local_updates, updates)
    rate = _moving_rate(state.count, alpha)
    operands = (local_updates, params, state.center, rate)
    if tau == 1:
        out, center = _communicate(operands)
    else:
        out, center = jax.lax.cond(state.count % tau == 0, _communicate, _wait, operands)
    new_state = EasgdState(
        count=_everywhere(tree.safe_increment(state.count), mesh),
        center=_everywhere(center, mesh),
        local_state=_along_workers(local_state, mesh, axis),
    )
    return _along_workers(tree.cast_like(out, updates), mesh, axis), new_state


# --------------------------------------------------------------------------- easgd


def easgd(
    local: GradientTransformation,
    num_workers: int,
    alpha: Any,
    tau: int = 1,
    *,
    mesh: Mesh | None = None,
    axis: str = "workers",
) -> GradientTransformation:
    """Synchronous elastic averaging SGD (Zhang, Choromanska & LeCun 2015) over ``K`` workers.

    With ``u^i_t`` the local optimizer's update of worker ``i`` (``-η g^i_t`` for
    ``gdjax.sgd(η)``), at a communication step (``τ`` divides ``t``):

        x^i_{t+1} = x^i_t + u^i_t - α (x^i_t - x̃_t)              (Eq. 5)
        x̃_{t+1}  = x̃_t + α Σ_i (x^i_t - x̃_t)                     (Eq. 6)

    and at the other steps ``x^i_{t+1} = x^i_t + u^i_t``, ``x̃_{t+1} = x̃_t``, with
    ``g^i_t`` taken at ``x^i_t``. ``α = 0``: ``K`` independent runs of ``local``.
    Every leaf of the params, gradients and updates has a leading worker axis of
    length ``K``; the center is in the state (`easgd_center`). Initialisation,
    PRNG keys and ``update``'s extra arguments: see the module docstring.

    Args:
      local: each worker's optimizer, e.g. ``gdjax.sgd(0.05)`` (EASGD) or
        ``gdjax.sgd(0.05, momentum=0.9, nesterov=True)`` (EAMSGD).
      num_workers: ``K`` (the paper's ``p``), a Python int >= 1.
      alpha: the moving rate ``α = η ρ`` in ``[0, 1/K]`` (``Kα = β``; the paper's
        experiments use ``β = 0.9``, so ``α = 0.9/K``): a float, an array (a
        tracer too: ``jax.vmap`` over it works), a schedule ``step -> α``, or
        ``Elasticity(rho, learning_rate)``.
      tau: the communication period ``τ``, a Python int >= 1. Default 1 (Eqs. 5-6
        at every step).
      mesh: optional `jax.sharding.Mesh` whose ``axis`` splits the workers: the
        step then pins the worker trees to ``P(axis)`` and the center to ``P()``.
        Without it, ``jit`` follows the layout of the inputs (`shard_workers`).
      axis: the mesh axis of the workers. Default ``"workers"``.

    Returns:
      A transformation with state `EasgdState`; its ``update`` needs ``params``.

    Raises:
      ValueError: ``num_workers`` or ``tau`` not an integer >= 1 (or traced);
        ``alpha`` (or an Elasticity's ``learning_rate * rho``) outside
        ``[0, 1/num_workers]``, its ``rho`` callable or either negative; an
        unknown mesh axis (listing the mesh's axes) or ``num_workers`` not a
        multiple of its size.
    """
    owner = "easgd"
    _check_local(owner, local)
    num_workers = _structural_int(owner, "num_workers", num_workers, 1)
    tau = _structural_int(owner, "tau", tau, 1)
    _check_moving_rate(owner, alpha, num_workers)
    if mesh is not None:
        _check_mesh(owner, mesh, axis, num_workers)
    # The worker count and tau shape the program (vmap size, the cond): options. The
    # moving rate and the local optimizer's hyperparameters are the leaves.
    layout = {"mesh": mesh, "axis": axis, "num_workers": Static(num_workers)}
    return GradientTransformation(
        bind(_easgd_init, local_init=local.init, **layout),
        bind(_easgd_update, local_update=local.update, alpha=alpha, tau=Static(tau), **layout),
    )


# --------------------------------------------------------------------------- helpers


def easgd_center(state: Any) -> Params:
    """The center variable ``x̃`` of an `easgd` state, also inside a chain's or a
    wrapper's state (the one `EasgdState` found in it)."""
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, EasgdState))
        if isinstance(node, EasgdState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"easgd_center: the state must hold exactly one EasgdState, found {len(found)} "
            f"in a {type(state).__name__}"
        )
    return found[0].center


def replicate_workers(params: Params, num_workers: int) -> Params:
    """``num_workers`` copies of ``params`` stacked on a new leading axis: every worker
    starts at the same point, ``x^i_0 = x_0`` (the paper's Algorithm 1)."""
    num_workers = _structural_int("replicate_workers", "num_workers", num_workers, 1)
    return jax.tree.map(
        lambda x: jnp.broadcast_to(jnp.asarray(x), (num_workers, *jnp.shape(x))), params
    )


def shard_workers(tree_: Any, mesh: Mesh, axis: str = "workers") -> Any:
    """Puts a tree whose leaves have a leading worker axis on ``mesh``, split along ``axis``
    (``NamedSharding(mesh, P(axis))``): the params before `easgd`'s ``init``, or the
    workers' batches.

    Raises:
      ValueError: ``axis`` is not an axis of ``mesh`` (the message lists them), or a
        leaf's leading axis is not a multiple of the devices along it.
    """
    owner = "shard_workers"
    _check_mesh(owner, mesh, axis, 0)
    devices = int(mesh.shape[axis])
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree_)[0]:
        shape = tuple(np.shape(leaf))
        if not shape or shape[0] % devices:
            raise ValueError(
                f"{owner}: the leading (worker) axis of every leaf must be a multiple of the "
                f"{devices} devices along mesh axis {axis!r}; leaf "
                f"{jax.tree_util.keystr(path) or '(root)'} has shape {shape}"
            )
    sharding = NamedSharding(mesh, P(axis))
    return jax.tree.map(lambda x: jax.device_put(x, sharding), tree_)
