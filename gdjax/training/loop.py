"""Training loops: `fit` for one run, `fit_many` for many runs as one program.

An epoch is one jit-compiled ``lax.scan`` over its batches, with the params and
the optimizer state donated, so the update happens in place. Between epochs a
short Python loop evaluates the validation set, shows progress, decides early
stopping and checks for non-finite losses. `fit_many` runs the same epoch
program vmapped over hyperparameter settings and seeds: 44 training runs are
one compiled program, called once per epoch.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax._validation import check_flag, check_int, check_range
from gdjax.base import GradientTransformation, apply_updates, extra_args_filter
from gdjax.keys import as_key, for_run, is_key
from gdjax.training.data import batches_per_epoch, epoch_batches, gather, num_examples
from gdjax.training.resume import RunCheckpoints

LossFn = Callable[[Any, Any], jax.Array]
"""``loss_fn(params, batch)``: per-example losses ``(batch_size,)`` (or their mean)."""


class EarlyStopping(NamedTuple):
    """Stop when the monitored loss has not improved for ``patience`` epochs (seed 002 §6.3).

    Improvement means falling below the best so far by more than ``min_delta``.
    The best params are restored at the end.

    Attributes:
      patience: epochs without improvement before stopping, >= 1.
      min_delta: the improvement that counts, >= 0.
      monitor: ``"validation"`` (the default; needs ``validation=``) or ``"train"``.
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "validation"


class History(NamedTuple):
    """What a training run recorded, epoch by epoch. For `fit_many` every array has
    the leading run axes ``(settings, seeds)``.

    Attributes:
      train_loss: ``(epochs,)`` mean training loss of each epoch.
      step_loss: ``(steps,)`` the loss of every step.
      validation_loss: ``(epochs,)`` after each epoch, or None without validation.
      metric: ``(epochs,)`` the validation metric, or None without one.
      best_epoch: the epoch (1-based) whose params were kept with early stopping,
        else the last.
      stopped_epoch: the epoch training stopped after (early stopping), else the last.
      failed_step: `fit_many` only: the step at which a run's loss or gradient
        went non-finite (its params are those before it), -1 for none.
    """

    train_loss: np.ndarray
    step_loss: np.ndarray
    validation_loss: np.ndarray | None
    metric: np.ndarray | None
    best_epoch: Any
    stopped_epoch: Any
    failed_step: Any = None


class NonFiniteLossError(FloatingPointError):
    """A step's loss or gradient went NaN or infinite (the name is kept from when
    only the loss was checked). ``step`` is the first such step (0-based, counted
    over the whole run), ``cause`` ``"loss"`` or ``"gradient"`` (a finite loss
    whose gradient is not, ``sqrt`` at 0 say), ``params`` the last finite params
    (before that step), and ``history`` what was recorded until then."""

    def __init__(self, step: int, params: Any, history: History, cause: str = "loss") -> None:
        detail = " (its loss is finite)" if cause == "gradient" else ""
        super().__init__(
            f"the {cause} is not finite at step {step}{detail}; training stopped and the params "
            f"of step {step} (before its update) are kept in error.params"
        )
        self.step = step
        self.cause = cause
        self.params = params
        self.history = history


# --------------------------------------------------------------------------- one epoch


class _Config(NamedTuple):
    batch_size: int | None
    shuffle: bool
    order: Any
    drop_last: bool
    examples: int


def _mean_loss(loss_fn: LossFn, params, batch, mask) -> jax.Array:
    losses = loss_fn(params, batch)
    if jnp.ndim(losses) == 0:
        return losses
    if jnp.shape(losses) != mask.shape:
        raise ValueError(
            f"loss_fn must return one loss per example, shape {mask.shape}, or their mean; "
            f"got shape {jnp.shape(losses)}"
        )
    weights = mask.astype(losses.dtype)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1)


def _all_finite(tree) -> jax.Array:
    """Whether every float leaf of ``tree`` is finite everywhere, as one traced bool."""
    checks = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.bool_(True)


def _epoch_program(
    loss_fn: LossFn, make_optimizer, config: _Config, steps: int, validated: bool, layout: _Layout
):
    """The traced epoch of one run: ``steps`` batches as one scan.

    Returns ``epoch(params, state, hyper, key, epoch, limit, value, active, data) ->
    (params, state, losses, failed)``, where ``failed`` is the first batch whose
    loss or gradient was not finite (-1 for none); from that batch on the run
    stands still, so its update is never applied.
    Batches from ``limit`` on are skipped: a last, partial epoch runs the same
    program instead of compiling one of its own length. ``layout`` pins the
    batches, params and state to their devices (a no-op on one device).
    The update's ``value=`` is the given validation loss if ``validated``, else
    the batch's own loss.
    """

    def epoch(params, state, hyper, key, number, limit, value, active, data):
        optimizer = make_optimizer(hyper)
        key = jax.random.fold_in(key, number)
        wants_value = extra_args_filter(optimizer.update)({"value": None})
        batches = epoch_batches(
            key,
            config.examples,
            config.batch_size,
            shuffle=config.shuffle,
            order=config.order,
            drop_last=config.drop_last,
        )
        if not config.drop_last and config.batch_size and config.examples % config.batch_size:
            # A padded last batch needs per-example losses to leave the padding out.
            probe = jax.eval_shape(loss_fn, params, gather(data, batches.indices[0]))
            if not probe.shape:
                raise ValueError(
                    f"{config.examples} examples do not fill batches of {config.batch_size}: "
                    "loss_fn must return per-example losses (the padding is masked out), "
                    "or pass drop_last=True"
                )

        def step(carry, batch):
            params, state, failed = carry
            indices, mask, index = batch
            examples, mask = layout.batch((gather(data, indices), mask))
            loss, grads = jax.value_and_grad(lambda p: _mean_loss(loss_fn, p, examples, mask))(
                params
            )
            grads = layout.grads(grads)
            # A finite loss can have a NaN gradient (sqrt at 0): applying it would
            # poison the params, so a step needs both.
            healthy = (jnp.isfinite(loss) & _all_finite(grads)) | (index >= limit)
            go = healthy & (failed < 0) & active & (index < limit)

            extra = {"value": value if validated else loss} if wants_value else {}

            def descend(operands):
                params, state = operands
                updates, state = optimizer.update(grads, state, params, **extra)
                return apply_updates(params, updates), state

            params, state = jax.lax.cond(go, descend, lambda operands: operands, (params, state))
            params, state = layout.params(params), layout.state(state)
            failed = jnp.where((failed < 0) & ~healthy & active, index, failed)
            return (params, state, failed), loss

        count = jnp.arange(steps, dtype=jnp.int32)
        xs = (batches.indices[:steps], batches.mask[:steps], count)
        (params, state, failed), losses = jax.lax.scan(step, (params, state, jnp.int32(-1)), xs)
        return params, state, losses, failed

    return epoch


def _evaluate_program(loss_fn: LossFn, metric_fn: Callable | None):
    def evaluate(params, data):
        mask = jnp.ones((num_examples(data),), bool)
        loss = _mean_loss(loss_fn, params, data, mask)
        metric = _mean_loss(metric_fn, params, data, mask) if metric_fn else jnp.zeros([])
        return loss, metric

    return evaluate


def _batched(fn, ndim: int, in_axes):
    for _ in range(ndim):
        fn = jax.vmap(fn, in_axes=in_axes)
    return fn


# --------------------------------------------------------------------------- the driver


def _progress(total: int, enabled: bool, description: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: a line per epoch instead
        return _Lines(total, description)
    return tqdm(total=total, desc=description, unit="epoch", dynamic_ncols=True)


class _Lines:
    def __init__(self, total: int, description: str) -> None:
        self.total, self.description, self.n = total, description, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        print(f"{self.description}: epoch {self.n + 1}/{self.total}, {shown}", file=sys.stderr)

    def close(self) -> None:
        pass


def _schedule(epochs: int | None, steps: int | None, per_epoch: int) -> list[int]:
    """The number of steps in each epoch: full epochs, the last one possibly shorter."""
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= and steps=")
    if epochs is not None:
        check_int("fit", "epochs", epochs, 1)
        return [per_epoch] * int(epochs)
    check_int("fit", "steps", steps, 1)
    full, rest = divmod(int(steps), per_epoch)
    return [per_epoch] * full + ([rest] if rest else [])


def _where(condition, new, old):
    """Per run: ``new`` where ``condition`` holds, else ``old`` (condition has the run axes)."""

    def pick(n, o):
        c = jnp.reshape(
            condition, jnp.shape(condition) + (1,) * (jnp.ndim(n) - jnp.ndim(condition))
        )
        return jnp.where(c, n, o)

    return jax.tree.map(pick, new, old)


def _finite_mean(values, axis=None):
    """The mean of the finite values (NaN where there are none), without warnings."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _copy(tree):
    # The epoch donates params and state; kept values must be copies.
    return jax.tree.map(jnp.copy, tree)


def _train(
    loss_fn: LossFn,
    params: Any,
    make_optimizer: Callable[[Any], GradientTransformation],
    hyper: Any,
    keys: jax.Array,
    train: Any,
    *,
    run_ndim: int,
    epochs: int | None,
    steps: int | None,
    batch_size: int | None,
    shuffle: bool,
    order: Any,
    drop_last: bool,
    validation: Any,
    metric: Callable | None,
    early_stopping: EarlyStopping | None,
    progress: bool,
    description: str,
    raise_on_non_finite: bool,
    checkpoint_dir: str | os.PathLike | None,
    checkpoint_every: int,
    resume: bool,
    parallel: Any = None,
    identity: Mapping[str, Any] | None = None,
):
    """The shared driver. Every per-run quantity has the leading run axes (``run_ndim``
    of them: none for `fit`, settings and seeds for `fit_many`). ``identity`` names
    what else a checkpoint must share with a run that resumes it (seeds, settings)."""
    check_flag(description, "shuffle", shuffle)
    check_flag(description, "drop_last", drop_last)
    check_flag(description, "progress", progress)
    examples = num_examples(train)
    per_epoch = batches_per_epoch(examples, batch_size, drop_last)
    plan = _schedule(epochs, steps, per_epoch)
    if early_stopping is not None:
        check_int(description, "early_stopping.patience", early_stopping.patience, 1)
        check_range(description, "early_stopping.min_delta", early_stopping.min_delta, "[0, inf)")
        if early_stopping.monitor not in ("validation", "train"):
            raise ValueError(
                f"{description}: early_stopping.monitor must be 'validation' or 'train', "
                f"got {early_stopping.monitor!r}"
            )
        if early_stopping.monitor == "validation" and validation is None:
            raise ValueError(
                f"{description}: early stopping on the validation loss needs validation="
            )
    if metric is not None and validation is None:
        raise ValueError(f"{description}: a metric is computed on validation=; give one")

    check_flag(description, "resume", resume)
    checkpoints = None
    if checkpoint_dir is not None:
        checkpoints = RunCheckpoints(
            checkpoint_dir,
            check_int(description, "checkpoint_every", checkpoint_every, 1),
            resume,
            {
                "examples": examples,
                "batch_size": batch_size or 0,
                "per_epoch": per_epoch,
                "drop_last": int(drop_last),
                "shuffle": int(shuffle),
            },
            description,
            # Before the layout places them: the host reads these as they are.
            {
                **(identity or {}),
                "order": None if order is None else np.asarray(order, np.int64),
                "key": keys,
            },
        )
    elif resume:
        raise ValueError(f"{description}: resume=True needs checkpoint_dir=")

    fixed_order = None if order is None else np.asarray(order)
    config = _Config(batch_size, shuffle, fixed_order, drop_last, examples)
    init = _batched(lambda p, h: make_optimizer(h).init(p), run_ndim, (0, 0))
    # The state's layout needs its shapes, hence a trace of init; only on a mesh.
    state_shapes = None if parallel is None else jax.eval_shape(init, params, hyper)
    layout = _Layout(parallel, params, state_shapes, batch_size or examples)
    params, hyper, keys, train, validation = layout.place(params, hyper, keys, train, validation)
    in_axes = (0, 0, 0, 0, None, None, 0, 0, None)
    epoch = _epoch_program(
        loss_fn, make_optimizer, config, per_epoch, validation is not None, layout
    )
    program = jax.jit(_batched(epoch, run_ndim, in_axes), donate_argnums=(0, 1))

    evaluate = None
    if validation is not None:
        evaluate = jax.jit(_batched(_evaluate_program(loss_fn, metric), run_ndim, (0, None)))

    run_shape = keys.shape
    state = jax.jit(init, out_shardings=layout.state_shardings)(params, hyper)
    host = layout.host
    # Per-run values handed to each epoch go as NumPy arrays: a transfer, not a program.
    # value= is the last validation loss (without validation each step reads its own).
    tally = _Tally.start(run_shape)
    if evaluate is not None:
        tally.value = np.asarray(host(evaluate(params, validation)[0]), np.float32)
    best_params = _copy(params) if early_stopping is not None else None
    records = {"train_loss": [], "step_loss": [], "validation_loss": [], "metric": []}
    first = 1
    if checkpoints is not None:
        resumed = checkpoints.resume(params, state, keys, tally, best_params)
        if resumed is not None:
            params, state, keys, tally, best_params, records, epochs_done, steps_done = resumed
            if steps_done != sum(plan[:epochs_done]) and epochs_done < len(plan):
                raise ValueError(
                    f"{description}: the checkpoint in {checkpoint_dir} ends after a partial "
                    f"epoch ({steps_done} steps in {epochs_done} epochs), which this run's plan "
                    "would have to complete: a run that ended mid-epoch can be resumed only "
                    "to the same steps="
                )
            first = epochs_done + 1
    done = sum(plan[: first - 1])
    bar = _progress(len(plan), progress, description)
    if bar is not None and first > 1:
        bar.update(first - 1)
    try:
        for epoch, length in enumerate(plan[first - 1 :], start=first):
            if not tally.active.any():
                break
            params, state, losses, failed = program(
                params,
                state,
                hyper,
                keys,
                np.int32(epoch),
                np.int32(length),
                tally.value,
                tally.active,
                train,
            )
            losses = host(losses)[..., :length]  # (runs..., length)
            failed = host(failed)
            newly = (failed >= 0) & (tally.failed_step < 0)
            tally.failed_step = np.where(newly, done + failed, tally.failed_step)
            done += length
            epoch_loss = _finite_mean(losses, axis=-1)
            records["train_loss"].append(epoch_loss)
            records["step_loss"].append(losses)
            postfix = {"loss": f"{_finite_mean(epoch_loss):.4g}"}
            if evaluate is not None:
                validation_loss, metric_value = (host(v) for v in evaluate(params, validation))
                records["validation_loss"].append(validation_loss)
                tally.value = np.asarray(validation_loss, np.float32)  # the next epoch's value=
                postfix["val"] = f"{_finite_mean(validation_loss):.4g}"
                if metric is not None:
                    records["metric"].append(metric_value)
                    postfix["metric"] = f"{_finite_mean(metric_value):.4g}"
            running = tally.active
            tally.stopped_epoch = np.where(running, epoch, tally.stopped_epoch)
            if newly.any():
                tally.active = running & ~newly
                if raise_on_non_finite:
                    raise NonFiniteLossError(
                        int(tally.failed_step),
                        params,
                        _history(records, tally.best_epoch, tally.stopped_epoch, None),
                        "loss" if not np.isfinite(losses[int(failed)]) else "gradient",
                    )
            if early_stopping is not None:
                monitored = records[
                    "validation_loss" if early_stopping.monitor == "validation" else "train_loss"
                ][-1]
                improved = running & (monitored < tally.best - early_stopping.min_delta)
                tally.best = np.where(improved, monitored, tally.best)
                tally.best_epoch = np.where(improved, epoch, tally.best_epoch)
                tally.waited = np.where(
                    improved, 0, np.where(running, tally.waited + 1, tally.waited)
                )
                best_params = _where(improved, params, best_params)  # new buffers: survive donation
                tally.active = tally.active & (tally.waited < early_stopping.patience)
            if checkpoints is not None and (
                epoch % checkpoints.every == 0 or epoch == len(plan) or not tally.active.any()
            ):
                checkpoints.save(done, epoch, params, state, keys, tally, best_params, records)
            if bar is not None:
                bar.set_postfix(**postfix)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if early_stopping is not None:
        params = best_params
        best_epoch = tally.best_epoch
    else:
        best_epoch = tally.stopped_epoch
    return params, _history(records, best_epoch, tally.stopped_epoch, tally.failed_step)


class _Layout:
    """Where a run's arrays live: the default device, or the mesh of a
    `gdjax.distributed.DataParallel` (batches split along its data axis, params
    and optimizer state laid out by its specs)."""

    def __init__(self, parallel: Any, params: Any, state: Any, batch_rows: int) -> None:
        self.parallel = parallel
        self.state_shardings = None
        if parallel is None:
            return
        if batch_rows % parallel.size:
            raise ValueError(
                f"fit: batches of {batch_rows} examples cannot be split evenly over the "
                f"{parallel.size} devices of the mesh axis {parallel.axis!r}; give a "
                f"batch_size that is a multiple of {parallel.size}"
            )
        self.param_shardings = parallel.param_shardings(params)
        self.state_shardings = parallel.state_shardings(state)
        self.grad_shardings = parallel.grad_shardings(params)

    def place(self, params, hyper, keys, train, validation):
        """The run's inputs as arrays on the mesh (unchanged on one device)."""
        if self.parallel is None:
            return params, hyper, keys, train, validation
        from gdjax.distributed.data_parallel import place

        replicated = self.parallel.replicated()
        validation = None if validation is None else place(validation, replicated)
        placed = place(params, self.param_shardings)
        return (
            placed,
            place(hyper, replicated),
            place(keys, replicated),
            place(train, replicated),
            validation,
        )

    def batch(self, tree):
        if self.parallel is None:
            return tree
        sharding = self.parallel.batch_sharding()
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)

    def grads(self, tree):
        if self.parallel is None or self.grad_shardings is None:
            return tree
        return jax.tree.map(jax.lax.with_sharding_constraint, tree, self.grad_shardings)

    def params(self, tree):
        if self.parallel is None:
            return tree
        return jax.tree.map(jax.lax.with_sharding_constraint, tree, self.param_shardings)

    def state(self, tree):
        if self.parallel is None:
            return tree
        return jax.tree.map(jax.lax.with_sharding_constraint, tree, self.state_shardings)

    def host(self, x) -> np.ndarray:
        if self.parallel is None:
            return np.asarray(x)
        from gdjax.distributed.data_parallel import to_host

        return to_host(x)


@dataclasses.dataclass
class _Tally:
    """The driver's per-run bookkeeping between epochs: NumPy arrays with the run axes."""

    value: np.ndarray  # the next epoch's value= (the last validation loss)
    active: np.ndarray  # still training
    failed_step: np.ndarray  # the first non-finite step, -1 for none
    best: np.ndarray  # early stopping: the best monitored loss so far
    best_epoch: np.ndarray
    stopped_epoch: np.ndarray
    waited: np.ndarray  # early stopping: epochs without improvement

    @classmethod
    def start(cls, shape: tuple[int, ...]) -> _Tally:
        return cls(
            value=np.full(shape, np.inf, np.float32),
            active=np.ones(shape, bool),
            failed_step=np.full(shape, -1, np.int64),
            best=np.full(shape, np.inf, np.float64),
            best_epoch=np.zeros(shape, np.int64),
            stopped_epoch=np.zeros(shape, np.int64),
            waited=np.zeros(shape, np.int64),
        )


def _history(records, best_epoch, stopped_epoch, failed_step) -> History:
    def stack(name, axis=-1):
        return np.stack(records[name], axis=axis) if records[name] else None

    step_loss = np.concatenate(records["step_loss"], axis=-1) if records["step_loss"] else None
    scalar = np.ndim(best_epoch) == 0
    return History(
        train_loss=stack("train_loss"),
        step_loss=step_loss,
        validation_loss=stack("validation_loss"),
        metric=stack("metric"),
        best_epoch=int(best_epoch) if scalar else best_epoch,
        stopped_epoch=int(stopped_epoch) if scalar else stopped_epoch,
        failed_step=None if failed_step is None or scalar else failed_step,
    )


# --------------------------------------------------------------------------- the public loops


def fit(
    loss_fn: LossFn,
    params: Any,
    optimizer: GradientTransformation,
    train: Any,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    key: Any = 0,
    shuffle: bool = True,
    order: Any = None,
    drop_last: bool = False,
    validation: Any = None,
    metric: Callable | None = None,
    early_stopping: EarlyStopping | None = None,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    parallel: Any = None,
) -> tuple[Any, History]:
    """Trains ``params`` on ``train`` with ``optimizer``; returns ``(params, history)``.

    Each epoch shuffles the examples (seed 002 §6.1; or keeps ``order``, a
    curriculum), runs its batches as one jit-compiled scan with donated
    buffers, then evaluates ``validation``. The optimizer's ``update`` receives
    ``value=`` the last validation loss (without ``validation``, each batch's own
    loss), which is what `gdjax.reduce_on_plateau` reads; give it
    ``accumulation_size=`` the batches per epoch to evaluate once an epoch.

    Args:
      loss_fn: ``(params, batch) -> losses``, one per example (the padding of a
        partial batch is masked out), or their mean.
      params: the initial params (not modified: training works on a copy).
      optimizer: any gradient transformation.
      train: a dataset: a pytree of arrays sharing their first axis.
      epochs: passes over the data; or
      steps: batches in all (the last epoch may be partial).
      batch_size: ``None`` (batch descent), ``1`` (stochastic) or ``n`` (mini-batch).
      key: the shuffling's PRNG key: an int seed, a NumPy or JAX integer scalar,
        a typed key (``jax.random.key``) or a legacy ``uint32`` key
        (``jax.random.PRNGKey``); every spelling of one seed gives the same run.
        Epoch ``e`` uses ``fold_in(key, e)``, so a run is reproducible and resumable.
      shuffle: reshuffle every epoch. Default True.
      order: a fixed order of the example indices, used every epoch.
      drop_last: leave out the last partial batch instead of padding it.
      validation: a dataset evaluated (full batch) after every epoch.
      metric: ``(params, batch) -> per-example values`` (e.g. correct or not),
        averaged over ``validation`` after every epoch.
      early_stopping: an `EarlyStopping`; the best params are restored.
      progress: a tqdm bar over the epochs with the loss and the metric.
      checkpoint_dir: save the run there (`gdjax.checkpoint`, needs the
        ``checkpoint`` extra) every ``checkpoint_every`` epochs and after the
        last; the checkpoint's step is the optimizer steps done. None (the
        default) saves nothing. A directory that already holds checkpoints
        needs ``resume=True``.
      checkpoint_every: epochs between checkpoints, >= 1. Default 1.
      resume: continue from the latest checkpoint in ``checkpoint_dir`` (start
        afresh if there is none). The resumed run ends bit-identical to an
        uninterrupted one: params, optimizer state (keys and counters
        included), early-stopping state and history all come from the
        checkpoint. A checkpoint of another run (other data, batching,
        ``key`` or ``order``) is refused with a ``ValueError`` naming the
        difference. ``epochs`` may be raised to train further (``steps`` too,
        when the saved run ended on an epoch boundary).
      parallel: a `gdjax.distributed.data_parallel` layout: each batch is split
        over the devices of its mesh (of every process after
        ``jax.distributed.initialize()``), the gradients are reduced by XLA,
        and params and optimizer state are laid out by its specs (ZeRO-1 with
        ``state="sharded"``). The batch size must be a multiple of the number
        of devices on its data axis. None (default): one device.

    Returns:
      ``(params, history)``, a `History`.

    Raises:
      NonFiniteLossError: when a step's loss or gradient is NaN or infinite; it
        names the step and which of the two, and holds the last finite params
        (the step's update is not applied).
      ValueError: ``key`` is not one of the spellings above.
    """
    key = as_key(key, "fit", "key")
    return _train(
        loss_fn,
        _copy(params),
        lambda hyper: optimizer,
        jnp.zeros([]),
        key,
        train,
        run_ndim=0,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        shuffle=shuffle,
        order=order,
        drop_last=drop_last,
        validation=validation,
        metric=metric,
        early_stopping=early_stopping,
        progress=progress,
        description="fit",
        raise_on_non_finite=True,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        parallel=parallel,
    )


def fit_many(
    loss_fn: LossFn,
    init: Callable[[jax.Array], Any] | Any,
    make_optimizer: Callable[..., GradientTransformation],
    train: Any,
    *,
    seeds: Sequence[int] | int,
    settings: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    order: Any = None,
    drop_last: bool = False,
    validation: Any = None,
    metric: Callable | None = None,
    early_stopping: EarlyStopping | None = None,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
) -> tuple[Any, History]:
    """`fit` for every hyperparameter setting and seed at once, as one compiled program.

    ``settings`` maps argument names of ``make_optimizer`` to equal-length
    sequences; setting ``i`` takes the ``i``-th value of each (zipped, not a
    product: ``{"learning_rate": [1.0, 0.2], "momentum": [0.0, 0.9]}`` is the
    two runs of seed 001's momentum experiment). Every setting is trained from
    every seed; results have the leading axes ``(settings, seeds)``. The
    hyperparameters reach ``make_optimizer`` as traced arrays, so they must be
    data (every gdjax optimizer's are). Each keeps its kind: Python floats
    arrive as float32 (another float dtype stays), ints as int32, bools as
    bools, typed PRNG keys as keys, so ``{"key": [0, 1]}`` or a patience works.
    Seed ``s`` draws the initial params (``init(fold_in(key(s), 0))``) and
    shuffles with ``fold_in(key(s), 1)``.

    Each run is a run of its own. Run ``r``, counted in C order over the
    result's leading axes (``r = setting * len(seeds) + seed_index``), gets the
    optimizer state ``gdjax.keys.for_run(make_optimizer(...).init(params), r)``:
    every PRNG key in it (`gdjax.add_noise`'s, `gdjax.noisy_sgd`'s) is folded
    with ``r``, so run ``r`` draws from ``fold_in(key, r)``: independent of the
    other runs, even from a shared ``init``, and reproducible from ``(key, r)``.
    A ``make_optimizer`` with a parameter named ``key`` (not one of the
    settings) is handed the run's own typed key, ``fold_in(fold_in(key(s), 2),
    r)``, for randomness of its own.

    A run whose loss or gradient goes non-finite stands still from that step
    on, its update not applied (the step is in ``history.failed_step``); with
    ``early_stopping`` a run that stops stands still too, and its best params
    are returned. The program still runs until every run has stopped.

    Args:
      loss_fn: as for `fit`.
      init: ``key -> params`` (each seed its own initialisation), or a params
        pytree shared by every run.
      make_optimizer: ``(**setting) -> GradientTransformation``, or
        ``(**setting, key) -> GradientTransformation``.
      train: the dataset.
      seeds: the seeds (ints), or a count ``n`` for ``range(n)``.
      settings: ``{name: values}``, zipped; None for one setting, ``make_optimizer()``.
      epochs: as for `fit`.
      steps: as for `fit`.
      batch_size: as for `fit`.
      shuffle: as for `fit`.
      order: as for `fit`.
      drop_last: as for `fit`.
      validation: as for `fit`.
      metric: as for `fit`.
      early_stopping: as for `fit`.
      progress: as for `fit` (one bar for all the runs).
      checkpoint_dir: as for `fit`: every run is in one checkpoint. Resuming
        with other ``seeds``, ``settings`` or ``order`` is refused.
      checkpoint_every: as for `fit`.
      resume: as for `fit`.

    Returns:
      ``(params, history)``: params and every `History` array with the leading
      axes ``(settings, seeds)``.
    """
    seeds = _seed_list(seeds)
    columns = _setting_columns(settings or {})
    count = len(next(iter(columns.values()))) if columns else 1
    grid = (count, len(seeds))
    keys = jnp.broadcast_to(jax.vmap(jax.random.key)(jnp.asarray(seeds)), grid)
    init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys.reshape(-1))
    data_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys.reshape(-1)).reshape(grid)
    if callable(init):
        params = jax.jit(jax.vmap(init))(init_keys)
        params = jax.tree.map(lambda x: x.reshape(*grid, *x.shape[1:]), params)
    else:
        params = jax.tree.map(
            lambda x: jnp.broadcast_to(jnp.asarray(x), (*grid, *jnp.shape(x))), init
        )
        params = _copy(params)
    hyper = _run_hyper(columns, keys, _takes_key(make_optimizer, columns))

    def build(hyper):
        extra = {"key": hyper["key"]} if "key" in hyper else {}
        optimizer = make_optimizer(**hyper["settings"], **extra)
        # init is written for one run: the run's index makes its keys its own.
        return optimizer._replace(init=lambda p: for_run(optimizer.init(p), hyper["run"]))

    identity = {"seeds": seeds}
    for name, column in columns.items():
        identity[f"settings[{name!r}]"] = column
    return _train(
        loss_fn,
        params,
        build,
        hyper,
        data_keys,
        train,
        run_ndim=2,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        shuffle=shuffle,
        order=order,
        drop_last=drop_last,
        validation=validation,
        metric=metric,
        early_stopping=early_stopping,
        progress=progress,
        description="fit_many",
        raise_on_non_finite=False,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        identity=identity,
    )


def _seed_list(seeds: Sequence[int] | int) -> np.ndarray:
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


def _setting_columns(settings: Mapping[str, Any]) -> dict[str, Any]:
    columns = {name: _setting_column(name, values) for name, values in settings.items()}
    if len({len(c) for c in columns.values()}) > 1:
        raise ValueError(
            "fit_many: the settings are zipped, so every list must have the same length; got "
            + ", ".join(f"{n}: {len(c)}" for n, c in columns.items())
        )
    return columns


def _takes_key(make_optimizer: Callable, columns: Mapping[str, Any]) -> bool:
    """Whether ``make_optimizer`` names a ``key`` parameter that no setting fills."""
    try:
        parameters = inspect.signature(make_optimizer).parameters
    except (TypeError, ValueError):  # builtins and C functions without a signature
        return False
    return "key" in parameters and "key" not in columns


def _run_hyper(columns: Mapping[str, Any], keys: jax.Array, takes_key: bool) -> dict:
    """What each run's optimizer is built from, every leaf with the run axes ``keys.shape``:
    its settings, its flat index ``r`` in C order and, if asked for, its own key."""
    grid = keys.shape
    runs = jnp.arange(keys.size, dtype=jnp.int32).reshape(grid)
    hyper = {
        "settings": {
            name: jnp.broadcast_to(jnp.asarray(column)[:, None], grid)
            for name, column in columns.items()
        },
        "run": runs,
    }
    if takes_key:
        fold = jax.vmap(lambda k, r: jax.random.fold_in(jax.random.fold_in(k, 2), r))
        hyper["key"] = fold(keys.reshape(-1), runs.reshape(-1)).reshape(grid)
    return hyper
