"""The host side of training: a short loop that calls the compiled epoch, and hooks between.

`drive` checks the options, lays the runs out on their devices
(`gdjax.distributed.layout`), builds the compiled programs
(`gdjax.training.program`), then calls the epoch program once per epoch.
Everything between two epochs (the history, non-finite runs, early stopping,
checkpoints, progress) is a hook's (`gdjax.training.hooks`), called in order.
One run (`fit`) and a grid of runs (`fit_many`) go through the same code: a
run's values carry its run axes in front, none for one run. Runs split over
devices (`fit_many(devices=...)`, a `RunParallel`) train on one run axis,
padded to a multiple of the devices; what leaves the driver (the results, the
checkpoints, the progress bar's means) has the run axes and runs of one device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np

from gdjax.distributed.data_parallel import DataParallel, place
from gdjax.distributed.layout import Layout, RunParallel, layout_for
from gdjax.training.history import History, finite_mean, history, new_records
from gdjax.training.hooks import (
    EarlyStop,
    Epoch,
    Hook,
    KeepLast,
    NonFiniteCheck,
    Record,
    RunState,
    Tally,
)
from gdjax.training.options import Options, Plan, check_parallel, checked
from gdjax.training.program import (
    Programs,
    Stateless,
    StatelessMetric,
    Task,
    build,
    init_program,
)
from gdjax.training.progress import Progress
from gdjax.training.resume import Checkpointer, RunCheckpoints


class Runs(NamedTuple):
    """The runs to train, every leaf with the leading run axes (none for `fit`,
    ``(settings, seeds)`` for `fit_many`)."""

    params: Any  # the initial params (the epoch donates them: a copy of the user's)
    hyper: Any  # each run's optimizer's data: `Task.make_optimizer`'s argument
    keys: jax.Array  # typed keys: epoch e of a run shuffles with fold_in(key, e)
    identity: Mapping[str, Any]  # what else a checkpoint must share with a run resuming it
    model_state: Any = None  # the model's untrained state (a copy); None: a model without

    @property
    def ndim(self) -> int:
        return len(self.keys.shape)


def drive(
    task: Task,
    runs: Runs,
    options: Options,
    *,
    caller: str,
    strict: bool,
    parallel: DataParallel | RunParallel | None = None,
) -> tuple[Any, History]:
    """Trains ``runs`` on ``task`` with ``options``; returns ``(params, history)``, or
    ``((params, model_state), history)`` for runs with a model state (whose ``task``
    and ``options.evaluation.metric`` take it; without, they are wrapped to ignore it).

    ``caller`` names the public function in errors; ``strict`` raises
    `NonFiniteLossError` at a non-finite step (`fit`) instead of stopping only
    that run (`fit_many`); ``parallel`` spreads the run over a mesh (`fit`, a
    `DataParallel`) or the runs over devices (`fit_many`, a `RunParallel`).
    """
    options, plan = checked(options, task.train, caller)
    stateful = runs.model_state is not None
    if not stateful:  # one code path: a model state of None passes through
        task, options = _without_state(task, options)
    split = parallel if isinstance(parallel, RunParallel) else None
    if split is None:  # a run over a mesh: its batches split over it
        check_parallel(parallel, options.batching, plan, caller)
    # Before anything compiles: a used checkpoint directory is refused here.
    keeper, hooks = _hooks(options, plan, runs, caller, strict, split)
    if split is not None:
        runs = _padded(runs, split)
    programs, run, placed = _start(task, runs, options, plan, parallel)
    try:
        for hook in hooks:
            hook.start(run)
        for number in range(run.epochs + 1, len(plan.lengths) + 1):
            if not run.tally.active.any():
                break
            epoch = _epoch(programs, placed, run, number, plan.lengths[number - 1])
            for hook in hooks:
                hook.after_epoch(run, epoch)
    finally:
        for hook in hooks:
            hook.close()
    params, best_epoch = keeper.kept(run)
    if stateful:
        params = (params, keeper.kept_state(run))
    tally = run.tally
    result = history(run.records, best_epoch, tally.stopped_epoch, tally.failed_step)
    if split is None:
        return params, result
    return split.unpadded((params, result))  # a History is a pytree of its arrays


def _padded(runs: Runs, split: RunParallel) -> Runs:
    """``runs`` on the padded run axis of ``split`` (not yet on its devices)."""
    params, hyper, keys, model_state = split.padded(
        (runs.params, runs.hyper, runs.keys, runs.model_state)
    )
    return runs._replace(params=params, hyper=hyper, keys=keys, model_state=model_state)


def _without_state(task: Task, options: Options) -> tuple[Task, Options]:
    """``task``'s loss and the evaluation's metric of a model without state, as those of
    a model whose state (None) they ignore."""
    task = task._replace(loss_fn=Stateless(task.loss_fn))
    evaluation = options.evaluation
    if evaluation is not None and evaluation.metric is not None:
        evaluation = evaluation._replace(metric=StatelessMetric(evaluation.metric))
    return task, options._replace(evaluation=evaluation)


def _hooks(
    options: Options,
    plan: Plan,
    runs: Runs,
    caller: str,
    strict: bool,
    split: RunParallel | None = None,
) -> tuple[KeepLast | EarlyStop, list[Hook]]:
    """The hooks, in the order they run after each epoch, and the one that decides
    which params are returned. For runs ``split`` over devices, the checkpoints and
    the progress bar see the runs of one device (``runs`` are those, unpadded)."""
    rule = options.early_stopping
    keeper = KeepLast() if rule is None else EarlyStop(rule)
    hooks = [Record(), NonFiniteCheck(strict), keeper]
    if options.checkpointing is not None:
        checkpoints = _checkpoints(options, plan, runs, caller)
        if split is not None:
            checkpoints = UnpaddedCheckpoints(checkpoints, split)
        hooks.append(Checkpointer(checkpoints, plan.lengths))
    if options.progress:
        progress = Progress(len(plan.lengths), caller)
        hooks.append(progress if split is None else RealRuns(progress, split.count))
    return keeper, hooks


class RealRuns(Hook):
    """``hook``, shown only the first ``count`` runs of each epoch: the padding of a run
    axis split over devices stays out of the means a progress bar shows."""

    def __init__(self, hook: Hook, count: int) -> None:
        self.hook, self.count = hook, count

    def start(self, run: RunState) -> None:
        self.hook.start(run)

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        real = {
            name: value[: self.count]
            for name, value in epoch._asdict().items()
            if isinstance(value, np.ndarray)
        }
        self.hook.after_epoch(run, epoch._replace(**real))

    def close(self) -> None:
        self.hook.close()


class UnpaddedCheckpoints:
    """The checkpoints of runs split over devices, written as one device writes them:
    without the padding, with the run axes ``split.shape``. A run on any devices (or
    on one) resumes them, and the padding is made again from the last run."""

    def __init__(self, checkpoints: RunCheckpoints, split: RunParallel) -> None:
        self.checkpoints, self.split = checkpoints, split

    def __getattr__(self, name: str) -> Any:
        if name == "checkpoints":  # not set yet (a copy in the making): not theirs
            raise AttributeError(name)
        return getattr(self.checkpoints, name)  # the rest (directory, every...) is theirs

    def save(self, run: RunState) -> None:
        unpadded = self.split.unpadded
        self.checkpoints.save(_mapped(run, unpadded, unpadded))

    def resume(self, run: RunState) -> RunState | None:
        unpadded = self.split.unpadded
        resumed = self.checkpoints.resume(_mapped(run, unpadded, unpadded))
        if resumed is None:
            return None
        padded, sharding = self.split.padded, self.split.run_sharding()
        return _mapped(resumed, lambda tree: place(padded(tree), sharding), padded)


_ON_DEVICE = ("params", "opt_state", "keys", "best_params", "model_state", "best_model_state")
"""The fields of a `RunState` on the runs' devices (the rest are on the host)."""


def _mapped(run: RunState, on_device: Callable, on_host: Callable) -> RunState:
    """``run`` with ``on_device`` applied to its values on the devices, ``on_host`` to
    those on the host with the run axes (the tally's, the records)."""
    tally = {f.name: on_host(getattr(run.tally, f.name)) for f in dataclasses.fields(run.tally)}
    return dataclasses.replace(
        run,
        **{name: on_device(getattr(run, name)) for name in _ON_DEVICE},
        tally=dataclasses.replace(run.tally, **tally),
        records=on_host(run.records),
    )


def _checkpoints(options: Options, plan: Plan, runs: Runs, caller: str) -> RunCheckpoints:
    """The run's checkpoints, with what a run resuming them must share."""
    batching = options.batching
    config = {
        "examples": plan.examples,
        "batch_size": batching.batch_size or 0,
        "drop_last": int(batching.drop_last),
        "shuffle": int(batching.shuffle),
        "per_epoch": plan.per_epoch,
    }
    order = None if batching.order is None else np.asarray(batching.order, np.int64)
    # The keys before the layout places them: the host reads them as they are.
    identity = {**runs.identity, "order": order, "key": runs.keys}
    return RunCheckpoints(options.checkpointing, config, caller, identity)


class _Placed(NamedTuple):
    """What every epoch reads and none changes, on the run's devices."""

    layout: Layout
    hyper: Any
    train: Any
    validation: Any  # None without an evaluation


def _start(
    task: Task, runs: Runs, options: Options, plan: Plan, parallel: DataParallel | None
) -> tuple[Programs, RunState, _Placed]:
    """The compiled programs, the run before its first epoch, and its fixed inputs."""
    # A mesh lays the state out by its shapes, hence a trace of init (only then).
    init = init_program(task.make_optimizer, runs.ndim)
    layout = layout_for(
        parallel, runs.params, lambda: jax.eval_shape(init, runs.params, runs.hyper)
    )
    evaluation = options.evaluation
    validation = None if evaluation is None else evaluation.data
    params = layout.place_params(runs.params)
    train, validation = layout.replicate((task.train, validation))
    keys, model_state = layout.per_run((runs.keys, runs.model_state))
    # A Python number among the hyperparameters goes to the programs as it is: jit
    # takes it as a weakly typed scalar, as the optimizer closed over it would (an
    # array of it would be strongly typed and promote low-precision params).
    hyper = jax.tree.map(lambda x: x if _is_number(x) else layout.per_run(x), runs.hyper)
    programs = build(task, options.batching, evaluation, plan, layout, runs.ndim)
    state = programs.init(params, hyper)
    tally = Tally.start(keys.shape)
    run = RunState(params, state, keys, tally, None, new_records(), 0, 0, model_state)
    loss, _ = programs.evaluate(params, model_state, validation)
    if loss is not None:  # the first epoch's value=: the initial validation loss
        run.tally.value = np.asarray(layout.host(loss), np.float32)
    return programs, run, _Placed(layout, hyper, train, validation)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool)


def _epoch(programs: Programs, placed: _Placed, run: RunState, number: int, length: int) -> Epoch:
    """Runs epoch ``number`` (its first ``length`` steps) of ``run``; what it gave."""
    tally, host = run.tally, placed.layout.host
    # Per-run values handed to the epoch go as NumPy arrays: a transfer, not a program.
    run.params, run.opt_state, run.model_state, losses, failed = programs.epoch(
        run.params,
        run.opt_state,
        run.model_state,
        placed.hyper,
        run.keys,
        np.int32(number),
        np.int32(length),
        tally.value,
        tally.active,
        placed.train,
    )
    losses, failed = host(losses)[..., :length], host(failed)  # (runs..., length), (runs...)
    evaluated = programs.evaluate(run.params, run.model_state, placed.validation)
    validation_loss, metric = (None if v is None else host(v) for v in evaluated)
    epoch = Epoch(
        number=number,
        first_step=run.steps,
        losses=losses,
        train_loss=finite_mean(losses, axis=-1),
        failed=failed,
        running=tally.active,
        validation_loss=validation_loss,
        metric=metric,
    )
    run.epochs, run.steps = number, run.steps + length
    return epoch
