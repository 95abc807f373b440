"""Downpour SGD (Dean et al. 2012) on Ray: model replicas pushing to a sharded parameter server.

Dean, Corrado, Monga et al., "Large Scale Distributed Deep Networks", NIPS 2012;
seed 002 §5.2.

Asynchronous SGD for real, on Ray's actors: the parameter server is
``shards`` actors, each owning one piece of the params and applying an
optimizer to it; ``workers`` model replicas, each an actor with its own share
of the training data, fetch the params from every shard every
``n_fetch`` steps and push the gradients they accumulated every ``n_push``
steps (Downpour's two knobs). Nobody waits for anybody: a gradient reaches a
shard after other replicas' gradients were applied since its replica's fetch,
and the number of those (its *staleness*) is recorded for every push.

What is what:

- **Sharding.** The params are flattened into one vector
  (`jax.flatten_util.ravel_pytree`: the leaves in `jax.tree.leaves` order,
  promoted to their common dtype) and the vector is cut into ``shards``
  contiguous pieces of nearly equal length (``numpy.array_split``: lengths
  differ by at most one). Any count from 1 to the number of params works;
  more shards than params is a ``ValueError``. A shard may cut a leaf in two,
  so a transformation that looks across a leaf or the whole tree
  (``clip_by_global_norm``, layer-wise rates) sees the shard's slice only.
- **Server rule.** Each shard applies ``optimizer.update`` and
  ``apply_updates`` to every gradient pushed to it, with its own ``opt_state``
  (default `gdjax.adagrad` with rate 0.1, AdaGrad as in Dean et al.). Or the
  delay-tolerant AdaGrad of DESIGN §7 (`AdaptiveRevisionServer`), which needs
  to know which replica pushes: the shard remembers, per replica, the
  gradient sum at that replica's last fetch.
- **Replicas.** Replica ``i`` trains on the examples ``i, i + W, i + 2W, ...``
  of ``train`` (``W = workers``), drawing ``batch_size`` of them without
  replacement at every step from its own generator (seeded by ``seed`` and
  ``i``). Its ``value_and_grad`` of the mean loss is jitted once. Between
  fetches it computes on the params it fetched, moved by its own steps
  ``-local_learning_rate * g`` when that rate is not 0 (the client of Dean et
  al.'s Algorithm 7.1, as we recall it, takes such local steps; with the
  default 0 it does not). Fetches block; pushes do not (Ray runs one caller's
  calls to an actor in order, so a replica's next fetch sees its own pushes).
- **Staleness.** A shard counts the pushes it applied (its *version*). The
  staleness of a push at a shard is the version when it is applied minus the
  version at the pushing replica's last fetch from that shard: 0 when nothing
  happened in between, ``k`` when ``k`` gradients were applied since the read
  (its own earlier pushes included, when ``n_push < n_fetch``).
- **Failures.** A replica whose loss raises, or whose process dies, stops the
  run: `downpour` raises `DownpourWorkerError` naming that replica, and the
  error carries the `DownpourResult` with the parameter server's params as
  they stood (nothing the server holds is lost).

Ray is optional (``pip install 'gdjax[async]'``) and imported only when
`downpour` is called. ``address=None`` uses the Ray already initialised in
this process, or starts an embedded one (``ray.init`` with a few CPUs, no
dashboard, quiet logs) that stays up for later calls (``ray.shutdown()`` ends
it); an address (``"ip:port"`` or ``"ray://..."``) joins that cluster.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import gdjax
from gdjax import tree
from gdjax._validation import check_int, check_number, check_range
from gdjax.base import GradientTransformation, Params
from gdjax.distributed.adaptive_revision import arrival

OWNER = "downpour"
DEFAULT_LEARNING_RATE = 0.1
"""The rate of the default server optimizer, ``gdjax.adagrad(0.1)``."""


# --------------------------------------------------------------------------- options


class DownpourOptions(NamedTuple):
    """How a `downpour` run is laid out.

    Attributes:
      workers: model replicas ``W`` (Ray actors), ≥ 1. Default 2.
      shards: parameter-server shards (Ray actors), ≥ 1 and at most the number of
        params. Default 2.
      n_fetch: a replica fetches the params every ``n_fetch`` of its steps, ≥ 1.
      n_push: a replica pushes its accumulated gradient (the sum of its gradients since
        its last push, as Dean et al.'s replicas do) every ``n_push`` steps, ≥ 1, and
        what is left at its last step.
      steps: gradient steps per replica, ≥ 1. Default 100.
      batch_size: examples per step, ≥ 1 and at most a replica's share of the data.
      seed: seeds the replicas' batch draws (replica ``i`` uses ``(seed, i)``).
      local_learning_rate: a replica's own step ``x -= rate * g`` between fetches,
        ≥ 0. Default 0 (a replica computes on the params it fetched).
      actor_cpus: the CPUs Ray reserves for each actor, > 0. Default 0.5, so that
        four actors fit on a two-core machine.
    """

    workers: int = 2
    shards: int = 2
    n_fetch: int = 1
    n_push: int = 1
    steps: int = 100
    batch_size: int = 32
    seed: int = 0
    local_learning_rate: float = 0.0
    actor_cpus: float = 0.5


class AdaptiveRevisionServer(NamedTuple):
    """The server rule of delay-tolerant AdaGrad (AdaptiveRevision, DESIGN §7).

    Pass it as `downpour`'s ``optimizer``. Per coordinate each shard keeps the sum
    ``G`` of the gradients it applied, an accumulator ``z`` and its running
    maximum ``zmax`` (both starting at ``initial_accumulator_value``); a fetch by
    replica ``i`` remembers ``G_read[i] = G``; a push of ``g`` by replica ``i``
    applies, with ``B = G - G_read[i]`` and ``a = learning_rate``:

        r_old = a / sqrt(zmax);  z = z + g*g + 2*g*B;  zmax = max(zmax, z)
        r = a / sqrt(zmax);      x = x - r*g + (r_old - r)*B;  G = G + g

    With ``B = 0`` it is AdaGrad with the accumulator updated before the step.
    The same rule under a simulated fixed delay is
    `gdjax.distributed.adaptive_revision`, whose docstring says where the rule
    comes from and what could not be checked against the paper. Here ``G``,
    ``z`` and ``zmax`` are kept in the params' dtype: ``B`` is a difference of
    running sums and loses relative accuracy in float32 as ``|G|`` grows.

    Attributes:
      learning_rate: the base rate ``a`` ≥ 0.
      initial_accumulator_value: the starting ``z`` and ``zmax``, > 0. Default 0.1.
    """

    learning_rate: float
    initial_accumulator_value: float = 0.1


class DownpourResult(NamedTuple):
    """What a `downpour` run returns (or a `DownpourWorkerError` carries).

    Attributes:
      params: the parameter server's params, in the structure and dtypes given.
      history: ``(workers, steps)`` float array, the loss replica ``i`` computed at
        its step ``t`` (NaN where a replica never got there).
      staleness: ``(pushes, shards)`` int array, the staleness of every push at
        every shard (see the module docstring), the replicas' pushes one after
        the other in replica order.
      pushed_by: ``(pushes,)`` int array, the replica of each row of ``staleness``.
      versions: ``(shards,)`` int array, the pushes each shard applied.
      nodes: the Ray node id of each actor, the shards' first, then the replicas'
        (the shards' only, if a replica failed before the run began).
    """

    params: Params
    history: np.ndarray
    staleness: np.ndarray
    pushed_by: np.ndarray
    versions: np.ndarray
    nodes: tuple[str, ...]


class DownpourWorkerError(RuntimeError):
    """A model replica failed and stopped a `downpour` run.

    Attributes:
      worker: the index of the replica that failed.
      result: the `DownpourResult` at the time: the server's params as they stood,
        the histories and staleness of the replicas that finished.
    """

    def __init__(self, worker: int, cause: BaseException, result: DownpourResult) -> None:
        super().__init__(
            f"{OWNER}: replica (worker) {worker} failed, so the run stopped; the parameter "
            f"server's params are in this error's .result.params. Cause: {_gist(cause)}"
        )
        self.worker = worker
        self.result = result


DEFAULT_OPTIONS = DownpourOptions()


def _gist(error: BaseException) -> str:
    """The gist of an error: the last ``SomeError: ...`` line of its text (Ray's task
    errors and JAX's callback errors quote the replica's own exception inside)."""
    error = getattr(error, "cause", None) or error  # a RayTaskError wraps the original
    lines = [line.strip() for line in str(error).splitlines()]
    named = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", line)]
    return named[-1] if named else f"{type(error).__name__}: {lines[0] if lines else ''}"


# --------------------------------------------------------------------------- the server


def _apply_transformation(tx: GradientTransformation, x, opt_state, gradient):
    updates, opt_state = tx.update(gradient, opt_state, x)
    return gdjax.apply_updates(x, updates), opt_state


class _TransformationRule:
    """A shard's rule for any `GradientTransformation`: ``update`` then ``apply_updates``."""

    def __init__(self, tx: GradientTransformation, x: jax.Array) -> None:
        self._state = tx.init(x)
        self._step = jax.jit(lambda x, s, g: _apply_transformation(tx, x, s, g))

    def read(self, worker: int) -> None:
        del worker  # an ordinary optimizer does not care who reads

    def apply(self, x: jax.Array, gradient: jax.Array, worker: int) -> jax.Array:
        del worker
        x, self._state = self._step(x, self._state, gradient)
        return x


class RevisionState(NamedTuple):
    """A shard's AdaptiveRevision state: ``G``, ``z`` and ``zmax`` of its coordinates."""

    gradient_sum: jax.Array
    accumulator: jax.Array
    max_accumulator: jax.Array


@jax.jit
def revision_step(
    x: jax.Array,
    state: RevisionState,
    gradient: jax.Array,
    gradient_read: jax.Array,
    learning_rate: jax.Array,
) -> tuple[jax.Array, RevisionState]:
    """One AdaptiveRevision push (DESIGN §7, `gdjax.distributed.adaptive_revision.arrival`):
    ``x`` and the state after gradient ``g``.

    Args:
      x: the shard's params.
      state: its `RevisionState`.
      gradient: ``g``, computed by a replica at its last read.
      gradient_read: ``G_read``, the shard's ``G`` at that read.
      learning_rate: the base rate ``a`` (data: changing it does not recompile).

    Returns:
      ``(x, state)`` after the push.
    """
    update, *after = arrival(
        gradient,
        state.gradient_sum,
        gradient_read,
        state.accumulator,
        state.max_accumulator,
        learning_rate,
    )
    return (x + update).astype(gradient.dtype), RevisionState(*after)


class _RevisionRule:
    """A shard's AdaptiveRevision rule: remembers ``G`` at each replica's last read."""

    def __init__(self, rule: AdaptiveRevisionServer, x: jax.Array) -> None:
        start = jnp.full_like(x, rule.initial_accumulator_value)
        self._state = RevisionState(jnp.zeros_like(x), start, start)
        self._rate = jnp.asarray(rule.learning_rate, x.dtype)
        self._reads: dict[int, jax.Array] = {}

    def read(self, worker: int) -> None:
        self._reads[worker] = self._state.gradient_sum

    def apply(self, x: jax.Array, gradient: jax.Array, worker: int) -> jax.Array:
        x, self._state = revision_step(x, self._state, gradient, self._reads[worker], self._rate)
        return x


class ParameterShard:
    """One shard of the parameter server: its slice of the flat params and the rule.

    A plain class: `downpour` runs it as a Ray actor, and it can be driven
    directly (deterministically) without Ray.

    Args:
      values: the shard's initial params, a 1-D array.
      rule: a `GradientTransformation` or an `AdaptiveRevisionServer`.
    """

    def __init__(self, values: Any, rule: GradientTransformation | AdaptiveRevisionServer):
        self._x = jnp.asarray(values)
        self._version = 0
        self._fetched: dict[int, int] = {}  # replica -> version at its last fetch
        if isinstance(rule, AdaptiveRevisionServer):
            self._rule: Any = _RevisionRule(rule, self._x)
        else:
            self._rule = _TransformationRule(rule, self._x)

    def fetch(self, worker: int) -> tuple[np.ndarray, int]:
        """Replica ``worker`` reads: returns ``(params, version)`` and remembers the read."""
        self._fetched[worker] = self._version
        self._rule.read(worker)
        return np.asarray(self._x), self._version

    def push(self, worker: int, gradient: Any) -> int:
        """Applies replica ``worker``'s gradient; returns its staleness (versions since its read).

        Raises:
          ValueError: ``worker`` never fetched from this shard.
        """
        if worker not in self._fetched:
            raise ValueError(
                f"{OWNER}: replica {worker} pushed to a shard it never fetched from; "
                f"replicas that fetched: {sorted(self._fetched)}"
            )
        staleness = self._version - self._fetched[worker]
        gradient = jnp.asarray(gradient, self._x.dtype)
        self._x = self._rule.apply(self._x, gradient, worker)
        self._version += 1
        return staleness

    def snapshot(self) -> tuple[np.ndarray, int]:
        """The shard's params and version, without counting as a replica's read."""
        return np.asarray(self._x), self._version

    def version(self) -> int:
        """The number of pushes applied so far."""
        return self._version

    def node(self) -> str:
        """The Ray node this shard runs on."""
        return _node_id()


# --------------------------------------------------------------------------- the replicas


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


class Replica:
    """A model replica: its data, a jitted ``value_and_grad`` and the shards' handles.

    Args:
      worker: its index.
      loss_fn: ``loss_fn(params, batch)``, a scalar or one loss per example (the
        mean is taken).
      template: the params' structure and dtypes (the initial params).
      data: its share of the training set, a dict of arrays with equal first axes.
      bounds: each shard's ``(start, stop)`` in the flat params.
      servers: the shards' Ray actor handles.
      options: the run's `DownpourOptions`.
    """

    def __init__(
        self,
        worker: int,
        loss_fn: Callable[[Params, dict], Any],
        template: Params,
        data: dict[str, np.ndarray],
        bounds: Sequence[tuple[int, int]],
        servers: Sequence[Any],
        options: DownpourOptions,
    ) -> None:
        flat, unravel = ravel_pytree(template)
        mean_loss = lambda flat, batch: jnp.mean(loss_fn(unravel(flat), batch))  # noqa: E731
        self._worker, self._data, self._bounds = worker, data, bounds
        self._servers, self._options = servers, options
        self._rng = np.random.default_rng([options.seed, worker])
        self._size = len(next(iter(data.values())))
        # Compiled here, without running the loss: a replica compiling after its first
        # fetch would push a gradient staled by the others' steps during the compilation.
        first = {name: values[: options.batch_size] for name, values in data.items()}
        self._grad = jax.jit(jax.value_and_grad(mean_loss)).lower(flat, first).compile()

    def _fetch(self) -> jax.Array:
        import ray

        pieces = ray.get([s.fetch.remote(self._worker) for s in self._servers])
        return jnp.concatenate([jnp.asarray(values) for values, _ in pieces])

    def _push(self, gradient: np.ndarray) -> list[Any]:
        return [
            server.push.remote(self._worker, gradient[start:stop])
            for server, (start, stop) in zip(self._servers, self._bounds, strict=True)
        ]

    def _batch(self) -> dict[str, np.ndarray]:
        chosen = self._rng.choice(self._size, self._options.batch_size, replace=False)
        return {name: values[chosen] for name, values in self._data.items()}

    def _train(self, pushes: list[list[Any]]) -> np.ndarray:
        """The replica's steps; appends each push's result references to ``pushes``."""
        options, losses = self._options, []
        accumulated, pending = None, 0
        for step in range(options.steps):
            if step % options.n_fetch == 0:
                x = self._fetch()
            loss, gradient = self._grad(x, self._batch())
            losses.append(float(loss))
            accumulated = gradient if accumulated is None else accumulated + gradient
            pending += 1
            if options.local_learning_rate:  # a Python option, outside any jitted code
                x = x - options.local_learning_rate * gradient
            if pending == options.n_push or step == options.steps - 1:
                pushes.append(self._push(np.asarray(accumulated)))
                accumulated, pending = None, 0
        return np.asarray(losses, dtype=np.float64)

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """Trains ``options.steps`` steps; returns the losses ``(steps,)`` and the staleness
        ``(pushes, shards)``.

        If a step raises, the pushes already sent are applied before the error
        propagates, so the server holds everything this replica pushed.
        """
        import ray

        pushes: list[list[Any]] = []
        try:
            losses = self._train(pushes)
        except BaseException:
            sent = [ref for refs in pushes for ref in refs]
            if sent:  # apply what was sent, then report the failure
                ray.wait(sent, num_returns=len(sent))
            raise
        staleness = np.asarray([ray.get(refs) for refs in pushes], dtype=np.int64)
        return losses, staleness.reshape(len(pushes), len(self._servers))

    def node(self) -> str:
        """The Ray node this replica runs on."""
        return _node_id()


# --------------------------------------------------------------------------- checks


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            f"{OWNER} needs Ray, which is not installed: pip install 'gdjax[async]'"
        ) from err
    return ray


def _check_options(options: Any) -> DownpourOptions:
    if not isinstance(options, DownpourOptions):
        raise TypeError(f"{OWNER}: options must be a DownpourOptions, got {options!r}")
    counts = {
        name: check_int(OWNER, f"options.{name}", getattr(options, name), 1)
        for name in ("workers", "shards", "n_fetch", "n_push", "steps", "batch_size")
    }
    seed = check_int(OWNER, "options.seed", options.seed, 0)
    rate = check_number(
        OWNER, "options.local_learning_rate", options.local_learning_rate, "[0, inf)"
    )
    cpus = check_number(OWNER, "options.actor_cpus", options.actor_cpus, "(0, inf)")
    return options._replace(**counts, seed=seed, local_learning_rate=rate, actor_cpus=cpus)


def _check_rule(optimizer: Any) -> GradientTransformation | AdaptiveRevisionServer:
    if optimizer is None:
        return gdjax.adagrad(DEFAULT_LEARNING_RATE)
    if isinstance(optimizer, AdaptiveRevisionServer):
        check_range(OWNER, "optimizer.learning_rate", optimizer.learning_rate, "[0, inf)")
        check_range(
            OWNER,
            "optimizer.initial_accumulator_value",
            optimizer.initial_accumulator_value,
            "(0, inf)",
        )
        return optimizer
    methods = (getattr(optimizer, name, None) for name in ("init", "update"))
    if not all(callable(method) for method in methods):
        raise TypeError(
            f"{OWNER}: optimizer must be a GradientTransformation (e.g. gdjax.adagrad(0.1)), "
            f"an AdaptiveRevisionServer or None, got {optimizer!r}"
        )
    return optimizer


def shard_bounds(size: int, shards: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` of each of ``shards`` contiguous pieces of ``range(size)``,
    of nearly equal length (as ``numpy.array_split``: lengths differ by at most one).

    Raises:
      ValueError: ``shards`` < 1 or more than ``size`` (a shard would be empty).
    """
    shards = check_int(OWNER, "shards", shards, 1)
    if shards > size:
        raise ValueError(
            f"{OWNER}: shards={shards} is more than the {size} params, so a shard would be "
            f"empty; allowed: 1 to {size}"
        )
    base, extra = divmod(size, shards)
    stops = np.cumsum([base + (i < extra) for i in range(shards)])
    return [(int(stop - (base + (i < extra))), int(stop)) for i, stop in enumerate(stops)]


def split_data(train: dict, workers: int, batch_size: int) -> list[dict[str, np.ndarray]]:
    """Replica ``i``'s share of ``train``: the examples ``i, i + workers, ...`` of every array.

    Raises:
      ValueError: ``train`` is not a non-empty dict of arrays with equal first axes, or
        a share is smaller than ``batch_size``.
    """
    if not isinstance(train, dict) or not train:
        raise ValueError(f"{OWNER}: train must be a non-empty dict of arrays, got {type(train)}")
    arrays = {name: np.asarray(values) for name, values in train.items()}
    sizes = {name: (values.shape[:1] or (0,))[0] for name, values in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{OWNER}: train's arrays must have equal first axes, got {sizes}")
    smallest = next(iter(sizes.values())) // workers
    if smallest < batch_size:
        raise ValueError(
            f"{OWNER}: options.batch_size={batch_size} is larger than a replica's share of "
            f"train ({smallest} examples with {workers} workers); allowed: 1 to {smallest}"
        )
    return [{name: values[i::workers] for name, values in arrays.items()} for i in range(workers)]


# --------------------------------------------------------------------------- running


def _connect(ray: Any, address: str | None, options: DownpourOptions) -> None:
    """Joins the cluster at ``address``, or the Ray already up, or starts an embedded one."""
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address is not None and address not in (current, "auto"):
            raise ValueError(
                f"{OWNER}: Ray is already connected to {current!r} in this process, so it "
                f"cannot join address={address!r}; call ray.shutdown() first or pass "
                "address=None"
            )
        return
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        cpus = max(2, math.ceil((options.workers + options.shards) * options.actor_cpus))
        quiet.update(num_cpus=cpus, include_dashboard=False)
    else:
        quiet.update(address=address)
    with warnings.catch_warnings():
        # JAX warns at every fork of this process; Ray forks only to exec its own
        # processes at once (subprocess), which share nothing of JAX's threads.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        ray.init(**quiet)


class _Plan(NamedTuple):
    """What the actors get: the flat params, each shard's bounds, each replica's data."""

    flat: np.ndarray
    bounds: list[tuple[int, int]]
    shares: list[dict[str, np.ndarray]]


def _plan(params: Params, train: dict, options: DownpourOptions) -> _Plan:
    flat, _ = ravel_pytree(params)
    bounds = shard_bounds(flat.size, options.shards)
    shares = split_data(train, options.workers, options.batch_size)
    return _Plan(np.asarray(flat), bounds, shares)


def _start(ray, loss_fn, params, plan: _Plan, rule, options):
    """Creates the shard actors and the replica actors; returns both lists."""
    flat, bounds, shares = plan
    placement = {"num_cpus": options.actor_cpus, "scheduling_strategy": "SPREAD"}
    shard_actor = ray.remote(ParameterShard).options(**placement)
    replica_actor = ray.remote(Replica).options(**placement)
    servers = [shard_actor.remote(flat[start:stop], rule) for start, stop in bounds]
    template = jax.tree.map(np.asarray, params)
    replicas = [
        replica_actor.remote(i, loss_fn, template, shares[i], bounds, servers, options)
        for i in range(options.workers)
    ]
    return servers, replicas


def _wait(ray, runs: list, servers: list, total: int, progress: bool) -> dict[int, Any]:
    """Waits for every replica; returns ``{worker: outcome or the exception it raised}``,
    stopping at the first failure."""
    # Imported here, not at the top: gdjax.training imports gdjax.distributed, so the
    # two packages would import each other.
    from gdjax.training.progress import progress_bar

    bar = progress_bar(total, "downpour pushes (shard 0)", enabled=progress)
    index = {ref: i for i, ref in enumerate(runs)}
    outcomes: dict[int, Any] = {}
    pending = list(runs)
    try:
        while pending:
            # With a bar, wake every 0.5 s to redraw it; without one, only for a replica.
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5 if progress else None)
            for ref in done:
                try:
                    outcomes[index[ref]] = ray.get(ref)
                except Exception as err:  # the replica's own error or its death
                    outcomes[index[ref]] = err
                    return outcomes
            if progress:
                bar.n = min(total, ray.get(servers[0].version.remote()))
                bar.refresh()
    finally:
        bar.close()
    return outcomes


def _collect(ray, params, servers, nodes, outcomes, options) -> DownpourResult:
    """The server's params and what the replicas that finished returned."""
    snapshots = ray.get([server.snapshot.remote() for server in servers])
    _, unravel = ravel_pytree(params)
    flat = jnp.concatenate([jnp.asarray(values) for values, _ in snapshots])
    history = np.full((options.workers, options.steps), np.nan)
    staleness, pushed_by = [], []
    for worker in range(options.workers):
        outcome = outcomes.get(worker)
        if isinstance(outcome, tuple):
            history[worker], rows = outcome
            staleness.append(rows)
            pushed_by.append(np.full(len(rows), worker))
    return DownpourResult(
        params=tree.cast_like(unravel(flat), params),
        history=history,
        staleness=np.concatenate(staleness or [np.zeros((0, options.shards), np.int64)]),
        pushed_by=np.concatenate(pushed_by or [np.zeros(0, np.int64)]).astype(np.int64),
        versions=np.asarray([version for _, version in snapshots], dtype=np.int64),
        nodes=tuple(nodes),
    )


def _train(ray, servers, replicas, options, progress):
    """Waits until every actor is built (the replicas compiled), then runs the replicas
    together; returns their outcomes, the first failure (or None) and the actors' nodes."""
    nodes = ray.get([server.node.remote() for server in servers])
    built = _wait(ray, [replica.node.remote() for replica in replicas], servers, 0, False)
    failed = _failure(built)
    if failed is not None:
        return {}, failed, tuple(nodes)
    nodes += [built[worker] for worker in range(len(replicas))]
    runs = [replica.run.remote() for replica in replicas]
    total = options.workers * math.ceil(options.steps / options.n_push)
    outcomes = _wait(ray, runs, servers, total, progress)
    return outcomes, _failure(outcomes), tuple(nodes)


def _failure(outcomes: dict[int, Any]) -> tuple[int, BaseException] | None:
    for worker, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            return worker, outcome
    return None


def _stop(ray, actors: Sequence[Any]) -> None:
    for actor in actors:
        ray.kill(actor)


def downpour(
    loss_fn: Callable[[Params, dict], Any],
    params: Params,
    train: dict,
    optimizer: GradientTransformation | AdaptiveRevisionServer | None = None,
    *,
    options: DownpourOptions = DEFAULT_OPTIONS,
    address: str | None = None,
    progress: bool = False,
) -> DownpourResult:
    """Downpour SGD (Dean et al. 2012): asynchronous replicas and a sharded parameter server.

    Starts ``options.shards`` parameter-server actors, each holding a contiguous
    piece of the flattened params and applying ``optimizer`` to the gradients
    pushed to it, and ``options.workers`` replica actors, each training on its
    share of ``train`` (every ``workers``-th example): every ``n_fetch`` steps
    it fetches the params from every shard, every ``n_push`` steps it pushes
    its accumulated gradient to every shard, without waiting for the others.
    The module docstring says how the params are split, what staleness
    means here and what a failure does.

    Args:
      loss_fn: ``loss_fn(params, batch)`` with ``batch`` a dict like ``train``'s
        rows; a scalar or one loss per example (the mean is taken). Ray ships it
        with cloudpickle: a function of ``__main__`` travels by value, one of another
        module by reference, so that module must be importable on every node (an
        installed package such as ``gdjax.training.models``); if it is not, the
        replicas fail to start and `DownpourWorkerError` says so.
      params: the initial params, a pytree of floating arrays.
      train: the training set, a dict of arrays with equal first axes (e.g.
        ``gdjax.training.datasets.digits().train``).
      optimizer: the shards' rule: any `GradientTransformation` (each shard has its
        own ``opt_state``), an `AdaptiveRevisionServer`, or ``None`` for
        ``gdjax.adagrad(0.1)``.
      options: the `DownpourOptions` (workers, shards, n_fetch, n_push, steps,
        batch_size, seed, local_learning_rate, actor_cpus).
      address: a Ray cluster's address, or ``None`` for the Ray already initialised
        in this process or else an embedded local one.
      progress: show a tqdm bar of the pushes applied by shard 0.

    Returns:
      A `DownpourResult`: the server's params, the replicas' loss history and the
      staleness of every push at every shard.

    Raises:
      ImportError: Ray is not installed (``pip install 'gdjax[async]'``).
      ValueError: a bad option (naming it), more shards than params, a batch larger
        than a replica's share, or an address other than the cluster Ray is
        already connected to.
      TypeError: ``options`` or ``optimizer`` of the wrong type, or non-floating params.
      DownpourWorkerError: a replica failed; ``.worker`` names it and ``.result``
        holds the server's params.
    """
    options = _check_options(options)
    rule = _check_rule(optimizer)
    tree.check_floating(params, OWNER)
    plan = _plan(params, train, options)  # bad shapes fail here, before Ray starts
    if isinstance(rule, AdaptiveRevisionServer) and np.iscomplexobj(plan.flat):
        raise TypeError(
            f"{OWNER}: the AdaptiveRevisionServer rule needs real params (its cross term "
            f"2 g B is not defined for complex gradients), got {plan.flat.dtype}"
        )
    ray = _import_ray()
    _connect(ray, address, options)
    servers, replicas = _start(ray, loss_fn, params, plan, rule, options)
    try:
        outcomes, failed, nodes = _train(ray, servers, replicas, options, progress)
        if failed is not None:
            _stop(ray, replicas)  # the others stop too; the shards still answer
        result = _collect(ray, params, servers, nodes, outcomes, options)
    finally:
        _stop(ray, [*replicas, *servers])
    if failed is not None:
        worker, cause = failed
        raise DownpourWorkerError(worker, cause, result) from cause
    return result
