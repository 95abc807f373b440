"""The benchmark protocol of DeepOBS and Crowded Valley, each tuning as one program.

For every optimizer and problem:

1. *Tune*: the budget's settings (a log grid, DeepOBS' 36 learning rates from
   1e-5 to 1e2, or Sobol points, log-uniform in each range) are run from one
   seed as ONE vmapped program: a function problem through a jitted ``lax.scan``
   over steps of a vmap over the runs, a data problem through
   `gdjax.training.fit_many` evaluated on the validation set.
2. *Select*: the setting with the lowest final validation loss; a diverged run
   counts as +inf and is never the best.
3. *Rerun*: the best setting from ``seeds`` seeds, again one program (a data
   problem evaluated on the test set each epoch).

Tools such as DeepOBS run these runs one after another; because gdjax's
hyperparameters are data, a whole budget is one compiled program here. The
measures and statistics are `gdjax.benchmark.report`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax.benchmark.problem import Problem
from gdjax.benchmark.report import Cell, Results
from gdjax.training.progress import progress_bar

SEARCHES = ("grid", "sobol")
"""How a budget places its points: a log grid, or scrambled Sobol points (log-uniform)."""

LEARNING_RATES = MappingProxyType({"learning_rate": (1e-5, 1e2)})
"""DeepOBS' tuning range: the learning rate from 1e-5 to 1e2 (36 log-spaced points)."""

MARGIN = 0.1
"""Tunability: a setting counts when its validation loss is within 10% of the best
(or at or below the problem's target)."""


class Tuned(NamedTuple):
    """An optimizer to benchmark, with the hyperparameters to tune and their ranges.

    Attributes:
      optimizer: a gdjax or optax name (``"adam"``; gdjax first) or a factory
        ``(**hyperparameters) -> GradientTransformation``.
      space: ``{hyperparameter: (low, high)}``, searched log-uniformly, ``0 < low < high``.
      fixed: hyperparameters passed unchanged to every call (``{"momentum": 0.9}``).
      name: the label in reports; default the optimizer's name.
    """

    optimizer: str | Callable[..., Any]
    space: Mapping[str, tuple[float, float]] = LEARNING_RATES
    fixed: Mapping[str, Any] = MappingProxyType({})
    name: str | None = None

    @property
    def label(self) -> str:
        """The name in reports and figures."""
        if self.name is not None:
            return self.name
        if isinstance(self.optimizer, str):
            return self.optimizer
        return getattr(self.optimizer, "__name__", repr(self.optimizer))


class Budget(NamedTuple):
    """How many settings each optimizer gets on each problem, and where they lie.

    Attributes:
      points: settings per optimizer and problem, ≥ 1. With ``"grid"`` and k
        hyperparameters, ``floor(points ** (1/k))`` per axis (the product grid).
      search: ``"grid"`` (log-spaced) or ``"sobol"`` (scrambled Sobol points,
        log-uniform in each range).
      seed: the Sobol scrambling's seed.
    """

    points: int = 36
    search: str = "grid"
    seed: int = 0


# The seed optimizers (seed 002 §4), and three of the wider family: AdamW, the
# default of today's training (decoupled weight decay); Lion, a sign method whose
# learning-rate scale differs from Adam's by orders of magnitude (a different
# family, found by program search); schedule-free AdamW, the winner of AlgoPerf's
# self-tuning track, which replaces the learning-rate schedule.
DEFAULT_OPTIMIZERS: tuple[Tuned, ...] = (
    Tuned("sgd"),
    Tuned("sgd", fixed=MappingProxyType({"momentum": 0.9}), name="momentum"),
    Tuned("sgd", fixed=MappingProxyType({"momentum": 0.9, "nesterov": True}), name="nesterov"),
    Tuned("adagrad"),
    Tuned("rmsprop"),
    Tuned("adadelta"),
    Tuned("adam"),
    Tuned("adamw"),
    Tuned("lion"),
    Tuned("schedule_free_adamw", name="sf_adamw"),
)
QUICK_OPTIMIZERS = ("sgd", "momentum", "adam")
"""``gdjax benchmark --quick``'s optimizers: plain descent, momentum and Adam, the three
families of the texts (each (optimizer, problem) pair compiles its own programs)."""
KNOWN: Mapping[str, Tuned] = MappingProxyType(
    {t.label: t for t in DEFAULT_OPTIMIZERS}
    | {n: Tuned(n) for n in ("nadam", "radam", "lamb", "adamax", "amsgrad", "yogi", "adabelief")}
)
"""The optimizers known by name (the CLI's ``--optimizers``): the defaults and a few more."""


# --------------------------------------------------------------------------- checks


def tuned(optimizer: Tuned | str | Callable[..., Any]) -> Tuned:
    """``optimizer`` as a `Tuned`: a name of `KNOWN`, another gdjax or optax name, or a factory.

    Raises:
      ValueError: an unknown name (naming the known ones) or a bad range.
    """
    if isinstance(optimizer, str):
        optimizer = KNOWN.get(optimizer, Tuned(optimizer))
    elif not isinstance(optimizer, Tuned):
        optimizer = Tuned(optimizer)
    _check_parameters(optimizer, factory(optimizer))  # before any work
    if not optimizer.space:
        raise ValueError(f"benchmark: {optimizer.label}: space is empty; give a range to tune")
    for name, bounds in optimizer.space.items():
        check_range(f"{optimizer.label}.space[{name!r}]", bounds)
    return optimizer


def _check_parameters(optimizer: Tuned, build: Callable[..., Any]) -> None:
    """A ValueError when ``build`` takes no argument named by ``space`` or ``fixed``."""
    try:
        parameters = inspect.signature(build).parameters
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for name in (*optimizer.space, *optimizer.fixed):
        if name not in parameters:
            raise ValueError(
                f"benchmark: {optimizer.label} takes no hyperparameter {name!r}; it takes: "
                f"{', '.join(parameters)}"
            )


def check_range(what: str, bounds: Any) -> tuple[float, float]:
    """A log range ``(low, high)`` with ``0 < low < high``, both finite, or a ValueError."""
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"benchmark: {what} must be (low, high), got {bounds!r}") from None
    if not (0 < low < high < math.inf):
        raise ValueError(
            f"benchmark: {what} must satisfy 0 < low < high (a log range), got ({low:g}, {high:g})"
        )
    return low, high


def check_budget(budget: Budget) -> Budget:
    """``budget`` if ``points ≥ 1`` and ``search`` is one of `SEARCHES`, else a ValueError."""
    if not isinstance(budget.points, int) or isinstance(budget.points, bool) or budget.points < 1:
        raise ValueError(f"benchmark: budget.points must be an int ≥ 1, got {budget.points!r}")
    if budget.search not in SEARCHES:
        raise ValueError(
            f"benchmark: budget.search must be one of {', '.join(SEARCHES)}, got {budget.search!r}"
        )
    return budget


def factory(optimizer: Tuned) -> Callable[..., Any]:
    """The factory of ``optimizer``: its callable, or the gdjax (else optax) function named."""
    if callable(optimizer.optimizer):
        return optimizer.optimizer
    import gdjax

    name = optimizer.optimizer
    found = getattr(gdjax, name, None) if isinstance(name, str) else None
    if found is None and isinstance(name, str) and not name.startswith("_"):
        try:
            import optax

            found = getattr(optax, name, None)
        except ImportError:
            found = None
    if not callable(found) or isinstance(found, type):
        raise ValueError(
            f"benchmark: unknown optimizer {name!r}; choose from {', '.join(KNOWN)}, another "
            "gdjax or optax optimizer's name, or a factory"
        )
    return found


# --------------------------------------------------------------------------- settings


def settings(space: Mapping[str, tuple[float, float]], budget: Budget) -> dict[str, np.ndarray]:
    """The budget's settings: ``{hyperparameter: values}``, one value per setting (zipped).

    A grid of one hyperparameter is ``points`` log-spaced values from low to
    high (DeepOBS: 36 from 1e-5 to 1e2); of k, the product of ``floor(points **
    (1/k))`` values per axis. Sobol points are scrambled with ``budget.seed``
    and mapped log-uniformly into each range.

    Args:
      space: ``{name: (low, high)}``.
      budget: the `Budget`.

    Returns:
      ``{name: float64 array (settings,)}``.
    """
    check_budget(budget)
    names = list(space)
    logs = np.log10(np.array([check_range(n, space[n]) for n in names]))  # (k, 2)
    if budget.search == "grid":
        per_axis = max(1, math.floor(budget.points ** (1 / len(names)) + 1e-9))
        axes = [_log_axis(low, high, per_axis) for low, high in logs]
        mesh = np.meshgrid(*axes, indexing="ij")
        return {n: 10.0 ** m.reshape(-1) for n, m in zip(names, mesh, strict=True)}
    from scipy.stats import qmc

    with warnings.catch_warnings():  # a count that is not a power of 2 loses balance
        warnings.simplefilter("ignore", UserWarning)
        unit = qmc.Sobol(len(names), scramble=True, seed=budget.seed).random(budget.points)
    return {
        n: 10.0 ** (low + unit[:, i] * (high - low))
        for i, (n, (low, high)) in enumerate(zip(names, logs, strict=True))
    }


def _log_axis(low: float, high: float, count: int) -> np.ndarray:
    """``count`` log10 values from low to high; one point is their middle."""
    return np.linspace(low, high, count) if count > 1 else np.array([(low + high) / 2])


# --------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class Build:
    """``(**settings) -> optimizer``: the factory with the fixed hyperparameters. Compared
    by value, so `fit_many` reuses its programs for an equal one."""

    factory: Callable[..., Any]
    fixed: tuple[tuple[str, Any], ...]

    def __call__(self, **setting: Any) -> Any:
        return self.factory(**dict(self.fixed), **setting)


class Outcome(NamedTuple):
    """Runs of one program: every array with the leading axes ``(settings, seeds)``.

    Attributes:
      curve: the loss after each step/epoch, entry 0 the start (+inf once diverged).
      final: the final loss (+inf for a diverged run).
      metric: a data problem's final test metric, or None.
      points: a function problem's points ``(..., steps + 1, D)`` if recorded, else None.
      seconds: the program's wall time, compilation included.
      last: a function problem's final points ``(..., D)``, else None.
    """

    curve: np.ndarray
    final: np.ndarray
    metric: np.ndarray | None
    points: np.ndarray | None
    seconds: float
    last: np.ndarray | None = None


def run_function(
    problem: Problem,
    build: Build,
    columns: Mapping[str, np.ndarray],
    seeds: Sequence[int],
    record_points: bool = False,
) -> Outcome:
    """Every setting from every seed's start on a function problem, as one jitted program."""
    began = time.perf_counter()
    floor = 0.0 if problem.minimum is None else float(problem.minimum[1])
    program = _function_program(
        problem.init, problem.loss, build, problem.steps, floor, record_points
    )
    values = {n: np.asarray(v, np.float32) for n, v in columns.items()}
    seeds = np.asarray(seeds, np.int32)
    shape = (len(next(iter(values.values()))), len(seeds))
    # XLA compiles a batch of one run otherwise than a larger batch, and its bits came
    # out different (a chaotic run's end too) on 3 of the 4 function problems, where a
    # pair's equalled the batch's: a lone run keeps a copy of itself company.
    lone = shape == (1, 1)
    if lone:
        values, shape = {n: np.repeat(v, 2) for n, v in values.items()}, (2, 1)
    out = jax.device_get(program(values, seeds))
    # The program's outputs are step-major with one axis over the runs (setting-major):
    # here, on the host, the runs go first, as settings and seeds.

    def runs_first(a: np.ndarray) -> np.ndarray:  # (steps + 1, runs, ...)
        return np.moveaxis(a, 0, 1).reshape(shape + a.shape[:1] + a.shape[2:])

    curve = runs_first(np.concatenate([out.gaps, out.final_gap[None]]).astype(np.float64))
    points = None
    if record_points:
        starts = np.tile(out.starts, (shape[0],) + (1,) * (out.starts.ndim - 1))
        points = runs_first(np.concatenate([starts[None], out.path]))
    last = np.asarray(out.last, np.float64).reshape(shape + out.last.shape[1:])
    if lone:
        curve, points, last = (None if a is None else a[:1] for a in (curve, points, last))
    seconds = time.perf_counter() - began
    return Outcome(curve, curve[..., -1], None, points, seconds, last)


class _FunctionRuns(NamedTuple):
    """`_function_program`'s outputs: step-major, one axis over every (setting, seed)."""

    gaps: jax.Array  # (steps, runs): f − f* before each step, +inf once non-finite
    final_gap: jax.Array  # (runs,) after the last step
    path: jax.Array | None  # (steps, runs, D): the point after each step, if recorded
    last: jax.Array  # (runs, D)
    starts: jax.Array  # (seeds, D)


@functools.lru_cache(maxsize=64)
def _function_program(init, loss, build, steps, floor, record_points):
    """``(settings, seeds) ->`` `_FunctionRuns`: jit(a scan over steps of a vmap over
    every (setting, seed) run). Kept: the settings and seeds are its arguments, so
    another budget of the same size compiles nothing; the starts are drawn inside, so
    nothing else compiles. The runs' axis inside the loop (not a vmap of scans, which
    batches the loop twice) traced and compiled in 15-22% less time, with the same bits
    on the element-wise problems (the quadratic's matrix product rounds otherwise)."""

    # +inf from the first non-finite value on: a run that blew up never recovers.
    # (A flag carried along compiles faster than a cumulative sum over the curve.)
    def gap(value, broken):
        broken = broken | ~jnp.isfinite(value)
        return jnp.where(broken, jnp.inf, value - floor), broken

    def one_step(setting, x, state, broken):
        value, grad = jax.value_and_grad(loss)(x)
        shown, broken = gap(value, broken)
        updates, state = build(**setting).update(grad, state, x)
        return jax.tree.map(jnp.add, x, updates), state, broken, shown

    every_step = jax.vmap(one_step)

    def program(settings, seeds):
        starts = jax.vmap(lambda seed: init(jax.random.key(seed)))(seeds)
        count = len(jax.tree.leaves(settings)[0])
        runs = jax.tree.map(lambda v: jnp.repeat(v, len(seeds)), settings)
        x = jnp.tile(starts, (count,) + (1,) * (starts.ndim - 1))  # run r: seed r % seeds
        state = jax.vmap(lambda setting, x: build(**setting).init(x))(runs, x)

        def step(carry, _):
            x, state, broken, shown = every_step(runs, *carry)
            return (x, state, broken), (shown, x if record_points else None)

        carry = (x, state, jnp.zeros(x.shape[:1], bool))
        (last, _, broken), (gaps, path) = jax.lax.scan(step, carry, None, length=steps)
        final_gap = gap(jax.vmap(loss)(last), broken)[0]
        return _FunctionRuns(gaps, final_gap, path, last, starts)

    return jax.jit(program)


def run_data(
    problem: Problem,
    build: Build,
    columns: Mapping[str, np.ndarray],
    seeds: Sequence[int],
    on: str,
) -> Outcome:
    """Every setting from every seed on a data problem: one `fit_many`, evaluated each
    epoch on ``on`` (``"validation"`` or ``"test"``); a run gone non-finite is +inf."""
    from gdjax.training import Batching, Evaluation, fit_many

    began = time.perf_counter()
    data = problem.data
    _, history = fit_many(
        problem.loss,
        problem.init,
        build,
        data.train,
        seeds=list(seeds),
        settings={n: np.asarray(v, np.float32) for n, v in columns.items()},
        epochs=problem.steps,
        batching=Batching(batch_size=problem.batch_size),
        evaluation=Evaluation(getattr(data, on), metric=problem.metric),
        progress=False,
    )
    curve = np.asarray(history.validation_loss, np.float64)
    failed = np.asarray(history.failed_step) >= 0
    curve = np.where(np.isfinite(curve), curve, np.inf)
    final = np.where(failed, np.inf, curve[..., -1])
    metric = None if history.metric is None else np.asarray(history.metric, np.float64)[..., -1]
    return Outcome(curve, final, metric, None, time.perf_counter() - began)


def tune_and_rerun(
    problem: Problem, build: Build, columns: Mapping[str, np.ndarray], seeds: int
) -> tuple[np.ndarray, int, Outcome, float]:
    """Steps 1-3 of the protocol: ``(validation (settings,), best, reruns, tuning seconds)``,
    the reruns' arrays with a leading axis of 1.

    A data problem tunes from seed 0 (validation set), then reruns the best from
    every seed (test set): two `fit_many` programs. A function problem is cheap
    to run but costly to compile, so its one program runs every setting from
    every seed's start, the selection reads seed 0's column only, and the
    best setting's row is its reruns (the same numbers as a second program).
    """
    if problem.data is None:
        every = run_function(problem, build, columns, range(seeds), problem.box is not None)
        validation = every.final[:, 0]
        best = best_index(validation)
        row = slice(max(best, 0), max(best, 0) + 1)
        points = None if every.points is None else every.points[row]
        last = every.last[row]
        reruns = Outcome(every.curve[row], every.final[row], None, points, 0.0, last)
        return validation, best, reruns, every.seconds
    tuning = run_data(problem, build, columns, [0], "validation")
    validation = tuning.final[:, 0]
    best = best_index(validation)
    chosen = {n: v[max(best, 0) : max(best, 0) + 1] for n, v in columns.items()}
    return validation, best, run_data(problem, build, chosen, range(seeds), "test"), tuning.seconds


# --------------------------------------------------------------------------- the protocol


def best_index(validation: np.ndarray) -> int:
    """The setting with the lowest finite validation loss (first of ties); -1: all diverged."""
    finite = np.isfinite(validation)
    if not finite.any():
        return -1
    return int(np.argmin(np.where(finite, validation, np.inf)))


def cell(optimizer: Tuned, problem: Problem, budget: Budget, seeds: int) -> Cell:
    """The protocol for one optimizer on one problem: tune, select, rerun."""
    columns = settings(optimizer.space, budget)
    build = Build(factory(optimizer), tuple(sorted(optimizer.fixed.items())))
    validation, best, rerun, tuning_seconds = tune_and_rerun(problem, build, columns, seeds)
    minimum = None if problem.minimum is None else np.asarray(problem.minimum[0], np.float64)
    distance = None
    if rerun.last is not None and minimum is not None:
        distance = np.linalg.norm(rerun.last[0] - minimum, axis=-1)
    return Cell(
        optimizer=optimizer.label,
        problem=problem.name,
        names=tuple(columns),
        settings=np.stack([columns[n] for n in columns], axis=-1),
        validation=validation,
        best=best,
        test_loss=rerun.final[0] if best >= 0 else np.full(seeds, np.inf),
        test_metric=None if rerun.metric is None else rerun.metric[0],
        curves=rerun.curve[0],
        paths=None if rerun.points is None else np.asarray(rerun.points[0], np.float64),
        distance=distance,
        tuning_seconds=tuning_seconds,
        rerun_seconds=rerun.seconds,
        first_step=0 if problem.data is None else 1,
    )


def benchmark(
    optimizers: Sequence[Tuned | str | Callable[..., Any]],
    problems: Sequence[Problem],
    budget: Budget = Budget(),  # noqa: B008 (a NamedTuple: immutable)
    seeds: int = 10,
    *,
    margin: float = MARGIN,
    progress: bool = True,
) -> Results:
    """Runs the protocol for every optimizer on every problem.

    Args:
      optimizers: `Tuned` specs, names (`KNOWN`, or any gdjax or optax optimizer:
        its learning rate tuned over `LEARNING_RATES`) or factories.
      problems: `gdjax.benchmark.problem.Problem`\\ s.
      budget: the settings per optimizer and problem (default DeepOBS' 36-point grid).
      seeds: the best setting's reruns, ≥ 2 (DeepOBS and Crowded Valley: 10).
      margin: tunability's relative margin from the best validation loss, ≥ 0.
      progress: a tqdm bar over the (optimizer, problem) pairs.

    Returns:
      `Results`: ``results.report()`` is the Markdown report, ``results.to_json()`` its data.

    Raises:
      ValueError: an unknown optimizer, an empty budget, a bad range, too few seeds,
        no problems or optimizers, or two with one name.
    """
    specs = [tuned(o) for o in optimizers]
    problems = list(problems)
    check_budget(budget)
    _check_lists(specs, problems, seeds, margin)
    pairs = [(o, p) for p in problems for o in specs]
    bar = progress_bar(len(pairs), "benchmark", unit="run", enabled=progress)
    cells = []
    for optimizer, problem in pairs:
        bar.set_postfix_str(f"{optimizer.label} on {problem.name}")
        cells.append(cell(optimizer, problem, budget, seeds))
        bar.update()
    bar.close()
    targets = {p.name: float(p.target) for p in problems}
    return Results(tuple(cells), targets, budget.points, budget.search, seeds, margin)


def _check_lists(specs: list[Tuned], problems: list[Problem], seeds: Any, margin: Any) -> None:
    if not specs or not problems:
        raise ValueError("benchmark: give at least one optimizer and one problem")
    for what, labels in (
        ("optimizer", [s.label for s in specs]),
        ("problem", [p.name for p in problems]),
    ):
        if len(set(labels)) != len(labels):
            raise ValueError(f"benchmark: each {what} must have its own name, got {labels}")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 2:
        raise ValueError(
            f"benchmark: seeds must be an int ≥ 2 (for a standard error), got {seeds!r}"
        )
    if not isinstance(margin, (int, float)) or not 0 <= margin < math.inf:
        raise ValueError(f"benchmark: margin must be a finite number ≥ 0, got {margin!r}")
