"""Training loops: `fit` for one run, `fit_many` for many runs as one program.

An epoch is one jit-compiled ``lax.scan`` over its batches, with the params and
the optimizer state donated, so the update happens in place
(`gdjax.training.program`). Between epochs a short Python loop evaluates,
records, checks for non-finite steps, decides early stopping, saves
checkpoints and shows progress (`gdjax.training.driver`). `fit_many` runs the
same epoch program vmapped over hyperparameter settings and seeds: 44
training runs are one compiled program, called once per epoch.

Both loops take their options as small NamedTuples: `Batching`, `Evaluation`,
`EarlyStopping`, `Checkpointing`.

A model with state that is not trained (batch normalization's running
averages, `gdjax.training.models.bn_mlp_init`) passes it as ``model_state=``;
its loss then takes and returns it (`StatefulLossFn`), and the result's
params are ``(params, model_state)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from gdjax.base import GradientTransformation
from gdjax.bound import split
from gdjax.distributed.data_parallel import DataParallel
from gdjax.distributed.layout import run_parallel
from gdjax.keys import as_key
from gdjax.training.driver import Runs, drive
from gdjax.training.history import History, NonFiniteLossError
from gdjax.training.hooks import copy
from gdjax.training.options import Batching, Checkpointing, EarlyStopping, Evaluation, Options
from gdjax.training.program import Filled, LossFn, StatefulLossFn, Task
from gdjax.training.runs import grid

__all__ = [
    "Batching",
    "Checkpointing",
    "EarlyStopping",
    "Evaluation",
    "History",
    "LossFn",
    "NonFiniteLossError",
    "StatefulLossFn",
    "fit",
    "fit_many",
]


def fit(
    loss_fn: LossFn | StatefulLossFn,
    params: Any,
    optimizer: GradientTransformation,
    train: Any,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batching: Batching = Batching(),  # noqa: B008 (a NamedTuple: immutable)
    evaluation: Evaluation | None = None,
    early_stopping: EarlyStopping | None = None,
    checkpointing: Checkpointing | None = None,
    key: Any = 0,
    progress: bool = True,
    parallel: DataParallel | None = None,
    model_state: Any = None,
) -> tuple[Any, History]:
    """Trains ``params`` on ``train`` with ``optimizer``; returns ``(params, history)``.

    Each epoch shuffles the examples (seed 002 §6.1; or follows ``batching.order``,
    one order for every epoch or one per epoch: a curriculum), runs its batches as
    one jit-compiled scan with donated buffers, then evaluates ``evaluation.data``.
    The optimizer's ``update`` receives ``value=`` the last validation loss
    (without ``evaluation``, each batch's own loss), which is what
    `gdjax.reduce_on_plateau` reads; give it ``accumulation_size=`` the batches per
    epoch to evaluate once an epoch. Without ``evaluation`` it also receives
    ``grad=`` and ``value_fn=`` (the batch's loss function), so a line search
    (`gdjax.lbfgs`) trains; with one, the value is not the batch's, and a line
    search refuses to run.

    Args:
      loss_fn: ``(params, batch) -> losses``, one per example (the padding of a
        partial batch is masked out), or their mean. With ``model_state``:
        ``(params, model_state, batch, training) -> (losses, new_model_state)``,
        where ``training`` is the batch's boolean mask of real examples in a step
        (batch statistics over those) and False in evaluation (running averages).
      params: the initial params (not modified: training works on a copy).
      optimizer: any gradient transformation. Its hyperparameters are an argument
        of the compiled programs, which are kept: a second ``fit`` with an optimizer
        of the same kind and options (another learning rate), the same ``loss_fn``,
        batching and data shapes compiles nothing.
      train: a dataset: a pytree of arrays sharing their first axis.
      epochs: passes over the data; or
      steps: batches in all (the last epoch may be partial).
      batching: a `Batching`: the batch size (``None``, the default, is batch
        descent; ``1`` stochastic; ``n`` mini-batch), shuffling, a fixed order
        (or one per epoch), dropping the last partial batch.
      evaluation: an `Evaluation`: a dataset evaluated (full batch) after every
        epoch, and a metric averaged over it. None (default): none.
      early_stopping: an `EarlyStopping`; the best params are restored.
      checkpointing: a `Checkpointing`: save the run in its ``directory`` every
        ``every`` epochs and after the last; with ``resume=True`` continue from
        the latest checkpoint there, ending bit-identical to an uninterrupted run
        (docs/training.md, "Checkpoints and resuming": what is saved, raising
        ``epochs`` to train further, which checkpoints are refused). None
        (default): nothing is saved.
      key: the shuffling's PRNG key: an int seed, an integer scalar, a typed key
        or a legacy ``uint32`` key, every spelling of one seed the same run;
        epoch ``e`` uses ``fold_in(key, e)``.
      progress: a tqdm bar over the epochs with the loss and the metric (without
        tqdm, a line per epoch). Default True.
      parallel: a `gdjax.distributed.data_parallel` layout: each batch is split
        over the devices of its mesh, the gradients reduced by XLA (ZeRO-1 with
        ``state="sharded"``; docs/scaling.md). The batch size must be a multiple
        of the devices on its data axis. None (default): one device.
      model_state: the model's state that is not trained (batch normalization's
        running averages), or None (default); copied, like the params. Each
        step's ``loss_fn`` returns the new one; the evaluation, its metric and the
        checkpoints read it (docs/training.md, "Batch normalization and model state").

    Returns:
      ``(params, history)``, a `History`; with ``model_state``, ``((params,
      model_state), history)``, the state that goes with the returned params.

    Raises:
      NonFiniteLossError: when a step's loss or gradient is NaN or infinite; it
        names the step and which of the two, and holds the last finite params
        (the step's update is not applied).
      ValueError: an option is out of range or not of its kind (the message names
        it, ``fit: batching.batch_size ...``), or ``key`` is not one of the
        spellings above.
    """
    options = Options(epochs, steps, batching, evaluation, early_stopping, checkpointing, progress)
    key = as_key(key, "fit", "key")
    # The optimizer's values travel as an argument of the programs, cached on the rest
    # (its kind and options): a new learning rate compiles nothing.
    data, skeleton = split(optimizer)
    runs = Runs(copy(params), data, key, identity={}, model_state=copy(model_state))
    task = Task(loss_fn, Filled(skeleton), train)
    return drive(task, runs, options, caller="fit", strict=True, parallel=parallel)


def fit_many(
    loss_fn: LossFn | StatefulLossFn,
    init: Callable[[jax.Array], Any] | Any,
    make_optimizer: Callable[..., GradientTransformation],
    train: Any,
    *,
    seeds: Sequence[int] | int,
    settings: Mapping[str, Any] | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batching: Batching = Batching(),  # noqa: B008 (a NamedTuple: immutable)
    evaluation: Evaluation | None = None,
    early_stopping: EarlyStopping | None = None,
    checkpointing: Checkpointing | None = None,
    progress: bool = True,
    model_state: Callable[[jax.Array], Any] | Any = None,
    devices: Sequence[jax.Device] | None = None,
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

    The hyperparameters are the program's argument (``make_optimizer`` is called
    with the first setting's values, which its checks see, then under
    ``jax.vmap``): another ``fit_many`` with other settings of the same kind
    compiles nothing. A ``make_optimizer`` that builds closures (an optax
    optimizer) is called inside the program instead.

    Each run is a run of its own: run ``r`` (C order over ``(settings, seeds)``)
    starts from ``gdjax.keys.for_run(make_optimizer(...).init(params), r)``, so
    every PRNG key in its state is folded with ``r``; a ``make_optimizer`` with a
    ``key`` parameter that no setting fills gets the run's own key (docs/training.md,
    "Many runs as one program").

    A run whose loss or gradient goes non-finite stands still from that step
    on, its update not applied (the step is in ``history.failed_step``); with
    ``early_stopping`` a run that stops stands still too, and its best params
    are returned. The program still runs until every run has stopped.

    ``loss_fn``, ``train``, ``epochs``, ``steps``, ``batching``, ``evaluation``,
    ``early_stopping``, ``checkpointing``, ``progress`` and ``model_state`` are as
    for `fit`; each run has its own model state, updated by its own batches;
    one progress bar shows every run, and one checkpoint holds every run
    (resuming with other ``seeds``, ``settings`` or order is refused).

    With ``devices``, the runs (flattened, run ``r`` as above) are split over a
    1-D mesh of them, each device training its share whole; a count they do not
    divide is padded with copies of the last run, dropped from everything
    returned. Results and checkpoints come back as from one device, equal to
    it up to float32 rounding (docs/scaling.md).

    Args:
      init: ``key -> params`` (each seed its own initialisation), or a params
        pytree shared by every run. A `jax.tree_util.Partial` whose arguments
        are all floats (an init scale) passes them to the compiled init as
        data: calls that differ only in them compile it once.
      make_optimizer: ``(**setting) -> GradientTransformation``, or
        ``(**setting, key) -> GradientTransformation``.
      seeds: the seeds (ints), or a count ``n`` for ``range(n)``.
      settings: ``{name: values}``, zipped; None for one setting, ``make_optimizer()``.
      model_state: ``key -> model_state`` (called with ``init``'s key; a
        `jax.tree_util.Partial` as for ``init``), a model state shared by every
        run as its start, or None (default): no model state.
      devices: the `jax.Device` s to split the runs over (this process's: say
        ``jax.local_devices()``). None (default) or one device: the default
        device, as before (unlike `gdjax.trajectories.run`, whose None is every
        local device: a run's programs and checkpoints stay as they were).

    Returns:
      ``(params, history)``: params and every `History` array with the leading
      axes ``(settings, seeds)``; with ``model_state``, ``((params, model_state),
      history)``, the model state with the same leading axes.

    Raises:
      TypeError: ``devices`` is not a sequence of `jax.Device`.
      ValueError: ``devices`` is empty, repeats a device or holds another
        process's; or as for `fit`.
    """
    options = Options(epochs, steps, batching, evaluation, early_stopping, checkpointing, progress)
    runs, build = grid(init, make_optimizer, seeds, settings, model_state)
    parallel = run_parallel(devices, runs.keys.shape)
    task = Task(loss_fn, build, train)
    return drive(task, runs, options, caller="fit_many", strict=False, parallel=parallel)
