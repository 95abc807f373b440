"""The benchmark's problems, each with a stated target: which optimizer should I use, and on what?

Seed 002 §4.8 asks which optimizer to use and answers from experience; a
benchmark answers it on problems whose difficulty is known. Four are
functions of one point, run by `gdjax.trajectories`-style programs:

* ``quadratic``: an ill-conditioned quadratic bowl (dimension 100, condition
  number 100), where momentum's √κ speed-up shows;
* ``rosenbrock`` and ``rastrigin``: pytorch-optimizer's visualisation problems
  (its ``examples/viz_optimizers.py``), from its starts, in its boxes;
* ``two_gaussians``: the texts' two wells (seed 001 eq. 11.4), from Table 11-1's
  start on the flat rim.

Four train a model with `gdjax.training.fit_many`, tuned on a validation set
carved from the training set and reported on the test set:

* ``sparse_logistic``: seed 004's sparse features as a logistic regression;
* ``digits_mlp`` and ``digits_cnn``: scikit-learn's digits with the texts'
  MLP and a small CNN;
* ``fashion_mnist``: the texts' MLP on Fashion-MNIST, from files in ``data_dir``.

Every problem is a `gdjax.benchmark.problem.Problem`; its docstring says
what its target is and why. Each is built once per process and handed out
again (Fashion-MNIST's data once per directory, its functions shared), so a
second benchmark of it compiles nothing its first compiled: compiled programs
are kept on a problem's functions. `get` returns one by name:

    >>> from gdjax.benchmark import problems
    >>> problems.get("rosenbrock").minimum[1]
    0.0
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import landscapes
from gdjax.benchmark.problem import Datasets, Problem
from gdjax.training import datasets, models

# --------------------------------------------------------------------------- function problems

QUADRATIC_DIM = 100
QUADRATIC_CONDITION = 100.0
QUADRATIC_SEED = 0


@functools.cache
def _quadratic_parts() -> tuple[np.ndarray, np.ndarray]:
    """The Hessian ``Q diag(λ) Qᵀ`` and the minimiser, from NumPy's ``default_rng(0)``."""
    rng = np.random.default_rng(QUADRATIC_SEED)
    rotation, _ = np.linalg.qr(rng.standard_normal((QUADRATIC_DIM, QUADRATIC_DIM)))
    # Evenly spaced in log: exactly 1 and 100 at the ends, so κ is exactly 100.
    eigenvalues = np.logspace(0.0, np.log10(QUADRATIC_CONDITION), QUADRATIC_DIM)
    hessian = (rotation * eigenvalues) @ rotation.T
    hessian = (hessian + hessian.T) / 2  # symmetric to the last bit
    minimiser = rng.standard_normal(QUADRATIC_DIM) / np.sqrt(QUADRATIC_DIM)
    return hessian.astype(np.float32), minimiser.astype(np.float32)


@functools.cache  # one Problem per process: its programs compile once
def quadratic() -> Problem:
    """An ill-conditioned quadratic: ``f(x) = ½ (x − x*)ᵀ A (x − x*)``, dimension 100, κ = 100.

    ``A = Q diag(λ) Qᵀ`` with eigenvalues spaced evenly in log from 1 to 100
    and ``Q`` a random rotation (the QR of a Gaussian matrix), ``x*`` a random
    point of norm ≈ 1, both from NumPy's ``default_rng(0)``; ``f* = 0``. A seed's
    start is ``x* + u``, ``u`` a unit-norm direction drawn from the seed's key,
    so seeds differ in which eigendirections they start along (``f`` starts
    near 11).

    Target: ``f − f* ≤ 1e-6`` within 500 steps. Why: about seven decades below
    the start, so the slowest directions (λ ≈ 1) must be resolved too. Plain
    descent at its largest stable rate (≈ 2/λ_max) contracts them by only
    ≈ 1 − 2/κ per step and needs a few hundred steps; momentum's contraction
    ≈ 1 − 2/√κ needs tens: the √κ speed-up is what this problem measures.
    """
    hessian, minimiser = (jnp.asarray(a) for a in _quadratic_parts())

    def loss(point: jax.Array) -> jax.Array:
        gap = point - minimiser
        return 0.5 * gap @ (hessian @ gap)

    def init(key: jax.Array) -> jax.Array:
        direction = jax.random.normal(key, (QUADRATIC_DIM,))
        return minimiser + direction / jnp.linalg.norm(direction)

    return Problem(
        name="quadratic",
        init=init,
        loss=loss,
        target=1e-6,
        steps=500,
        minimum=(np.asarray(minimiser), 0.0),
    )


def _landscape_problem(
    land: landscapes.Landscape, start: tuple[float, ...], target: float, steps: int
) -> Problem:
    """A function problem on one of `gdjax.landscapes`, from a fixed start (the key unused)."""
    best = land.minima[0]  # global ones come first
    point = jnp.asarray(start, jnp.float32)
    return Problem(
        name=land.name,
        init=lambda key: point,
        loss=land.fn,
        target=target,
        steps=steps,
        minimum=(np.asarray(best.point, np.float32), float(best.value)),
        box=(land.bounds[0], land.bounds[1]),
    )


@functools.cache  # one Problem per process: its programs compile once
def rosenbrock() -> Problem:
    """Rosenbrock's valley ``(1 − x)² + 100(y − x²)²`` from pytorch-optimizer's start (−2, 2).

    As pytorch-optimizer's ``examples/viz_optimizers.py`` draws it: start
    (−2, 2), minimum (1, 1) with ``f* = 0``, box x ∈ [−2, 2], y ∈ [−1, 3], 500
    steps (its drawn runs; its search scores 100-step runs). The start is fixed,
    so seeds only matter for optimizers that draw noise. Its script clips each
    gradient to norm 1 (``clip_grad_norm_``); the problem does not: chain
    `gdjax.clip_by_global_norm` ``(1.0)`` in front of the optimizer to run its
    protocol exactly.

    Target: ``f − f* ≤ 1e-2`` within 500 steps. Why: the valley floor falls
    from ``f ≈ 9`` at the start's end of it to 0 along a curved path of length
    ≈ 4, and ``f ≤ 1e-2`` holds only within ≈ 0.1 of (1, 1): a run must have
    followed the whole valley, not merely dropped onto its floor. On the
    36-point grid SGD (rate 1.6e-3), momentum 0.9 (1e-3) and Nesterov reach it
    after 340–380 steps, Adam (rates 0.63–2.5) after 320–490, AdaGrad (6.3) in 22.
    """
    return _landscape_problem(landscapes.rosenbrock, (-2.0, 2.0), target=1e-2, steps=500)


@functools.cache  # one Problem per process: its programs compile once
def rastrigin() -> Problem:
    """Rastrigin's egg crate ``20 + Σ (x² − 10 cos 2πx)`` from pytorch-optimizer's start (−2, 3.5).

    As pytorch-optimizer's ``examples/viz_optimizers.py`` draws it: start
    (−2, 3.5), global minimum (0, 0) with ``f* = 0``, box [−4.5, 4.5]², 500
    steps (its drawn runs). The start is fixed, as there; gradients are not
    clipped (see `rosenbrock`).

    Target: ``f − f* ≤ 1.5`` within 500 steps. Why: the four local minima
    next to the origin, at ≈ (±1, 0) and (0, ±1), lie at ``f ≈ 0.99`` and every
    other one at 1.99 or above, so a run reaches the target only in the global
    minimum's basin or one of those four: it has crossed the lattice of local
    minima from the start (two cells left of the centre, three and a half
    above it) to the centre. Landing in the
    global basin itself is a lottery for gradient methods: on the 36-point grid
    only AdaGrad at rates 10 and 63 passes below 0.5, and none stays there.
    AdaGrad (rate 1.6) reaches 1.5 in 56 steps and stays; SGD (0.04, 0.16),
    RMSProp (6.3) and Adam (10) pass through it.
    """
    return _landscape_problem(landscapes.rastrigin, (-2.0, 3.5), target=1.5, steps=500)


TWO_GAUSSIANS_START = (1.5, 1.5)


@functools.cache  # one Problem per process: its programs compile once
def two_gaussians() -> Problem:
    """The texts' two Gaussian wells (seed 001 eq. 11.4) from Table 11-1's start (1.5, 1.5).

    The start is the star of Table 11-1, the one the texts run longest (30
    steps at rate 0.4): far out on the flat rim, about as far from either
    well, where the gradient is small (≈ 0.25). The global minimum is the deep
    well near (−0.98, 0.98), ``f* ≈ −2.019``; 100 steps, the texts' box [−2, 2]².

    Target: ``f − f* ≤ 1e-4`` within 100 steps. Why: the shallow well's
    minimum sits 0.975 above the deep one, so the target means the deep well,
    and 1e-4 asks for settling there (within ≈ 0.01 of the minimum), not
    passing through; crossing the flat rim fast is what separates the
    optimizers. On the 36-point grid every method of the texts reaches it at
    some rate: SGD at 0.06–0.63 (in 7–81 steps), momentum 0.9, Nesterov,
    AdaGrad, RMSProp, AdaDelta and Adam at several each.
    """
    return _landscape_problem(landscapes.two_gaussians, TWO_GAUSSIANS_START, 1e-4, steps=100)


# --------------------------------------------------------------------------- data problems

SPARSE_FEATURES = 16
SPARSE_SIZES = (2000, 1000, 1000)  # train, validation, test
SPARSE_WEIGHT, SPARSE_BIAS = 2.0, -1.0  # seed 004's true w and b


def _sparse_inputs(examples: int, seed: int) -> np.ndarray:
    """``(examples, 16)`` inputs, column ``j`` seed 004's generator with ``1 − 0.5·0.75ʲ`` zeros."""
    columns = [
        datasets.sparse_features(examples, 1 - 0.5 * 0.75**j, seed=seed * SPARSE_FEATURES + j)["x"]
        for j in range(SPARSE_FEATURES)
    ]
    return np.stack(columns, axis=1)


def sparse_truth() -> dict[str, jax.Array]:
    """The true model of `sparse_logistic`: ``w*`` alternating ±2 from feature 0, ``b* = −1``."""
    signs = np.where(np.arange(SPARSE_FEATURES) % 2 == 0, 1.0, -1.0)
    return {"w": jnp.asarray(SPARSE_WEIGHT * signs, jnp.float32), "b": jnp.float32(SPARSE_BIAS)}


@functools.cache
def _sparse_data() -> Datasets:
    """The three sets of `sparse_logistic`: inputs of NumPy seeds 0-47, labels of seed 4."""
    weights = np.asarray(sparse_truth()["w"])
    rng = np.random.default_rng(4)  # seed 004
    parts = []
    for part, examples in enumerate(SPARSE_SIZES):
        x = _sparse_inputs(examples, part)
        probability = 1 / (1 + np.exp(-(x @ weights + SPARSE_BIAS)))
        y = (rng.uniform(size=examples) < probability).astype(np.int32)
        parts.append({"x": x, "y": y})
    return Datasets(*parts)


def _logits(params: dict, x: jax.Array) -> jax.Array:
    return x @ params["w"] + params["b"]


def _logistic_loss(params: dict, batch: dict) -> jax.Array:
    """Per example: the logistic loss ``log(1 + e^z) − y z`` of the logit ``z``."""
    z = _logits(params, batch["x"])
    return jax.nn.softplus(z) - batch["y"] * z


def _logistic_correct(params: dict, batch: dict) -> jax.Array:
    return ((_logits(params, batch["x"]) > 0) == (batch["y"] == 1)).astype(jnp.float32)


@functools.cache  # one Problem per process: its programs compile once
def sparse_logistic() -> Problem:
    """Seed 004's sparse features as a logistic regression: 16 features, most of them rare.

    Feature ``j`` is seed 004's input (`gdjax.training.datasets.sparse_features`:
    uniform in [0.5, 2.5], a share set to 0) with ``1 − 0.5·0.75ʲ`` zeros: non-zero
    in half the examples (feature 0) down to fewer than 1 in 100 (feature 15).
    Labels are drawn from the true model ``P(y = 1) = σ(x·w* + b*)`` (`sparse_truth`:
    seed 004's w = 2 and b = −1, the sign of w alternating). 2000 training,
    1000 validation and 1000 test examples (disjoint draws); params
    ``{"w": (16,), "b": ()}`` start at 0 (the key unused); mini-batches of 50,
    10 epochs (400 steps); metric: accuracy.

    The point of seed 004: a rare feature's weight gets a gradient only in the
    few batches where the feature is non-zero, so one global rate is too small
    for the rare weights or too large for the frequent ones; AdaGrad's
    per-weight rates are the texts' remedy.

    Target: test loss ≤ 0.31. Why: the true model's own test loss is 0.301 (the
    labels' noise: the floor) and the best fitted models reach ≈ 0.295 (a
    sample's luck), while the true model with its eight rarest weights set to 0
    scores 0.354 and no model 0.693. Only a run that has learnt the rare weights
    too gets within 0.01 of the floor.
    """
    data = _sparse_data()
    return Problem(
        name="sparse_logistic",
        init=lambda key: {"w": jnp.zeros(SPARSE_FEATURES), "b": jnp.zeros(())},
        loss=_logistic_loss,
        target=0.31,
        steps=10,
        data=data,
        batch_size=50,
        metric=_logistic_correct,
    )


DIGITS_MLP_SIZES = (64, 100, 50, 10)
VALIDATION_FRACTION = 0.2


def _with_validation(split: datasets.Split, fraction: float) -> Datasets:
    """`Datasets` with a stratified ``fraction`` of the training set held out (seed 1)."""
    train, validation = datasets.stratified_split(split.train["y"], fraction, seed=1)
    return Datasets(
        train={key: value[train] for key, value in split.train.items()},
        validation={key: value[validation] for key, value in split.train.items()},
        test=split.test,
    )


@functools.cache
def _digits(images: bool) -> Datasets:
    """Digits: 25 % test (stratified, seed 0), then 20 % of the rest for validation (seed 1)."""
    split = datasets.digits(test_fraction=0.25, seed=0, images=images)
    return _with_validation(split, VALIDATION_FRACTION)


def _mlp_correct(params: list, batch: dict) -> jax.Array:
    return models.correct(models.mlp_apply(params, batch["x"]), batch["y"])


@functools.cache  # one Problem per process: its programs compile once
def digits_mlp() -> Problem:
    """The texts' MLP (seed 001's NN.py: sigmoids, squared error) on scikit-learn's digits.

    64-100-50-10 with every layer sigmoid and the half squared error against
    one-hot labels (`gdjax.training.models.mlp_loss`), initialised uniformly in
    [−0.5, 0.5] from the seed's key. Digits: 1797 8×8 images, 25 % test
    (stratified, seed 0), 20 % of the rest for validation (seed 1): 1078
    training, 269 validation and 450 test images. Mini-batches of 32, 20
    epochs; metric: accuracy.

    Target: test loss ≤ 0.1. Why: the untrained network's loss is 1.1–1.8
    (seeds 0–2); well-tuned runs reach 0.03 (Adam) to 0.06 (SGD) in the 20
    epochs, 93–97 % correct. 0.1 is a network well on its way there: on the
    36-point grid it is reached at 3 of SGD's rates and 7 of Adam's, and
    missed by every other.
    """
    return Problem(
        name="digits_mlp",
        init=lambda key: models.mlp_init(key, DIGITS_MLP_SIZES),
        loss=models.mlp_loss,
        target=0.1,
        steps=20,
        data=_digits(images=False),
        batch_size=32,
        metric=_mlp_correct,
    )


DIGITS_CNN_CHANNELS = (8, 16)


def _cnn_loss(params: dict, batch: dict) -> jax.Array:
    return models.cross_entropy(models.cnn_apply(params, batch["x"]), batch["y"])


def _cnn_correct(params: dict, batch: dict) -> jax.Array:
    return models.correct(models.cnn_apply(params, batch["x"]), batch["y"])


@functools.cache  # one Problem per process: its programs compile once
def digits_cnn() -> Problem:
    """A small CNN (`gdjax.training.models.cnn_init`) on scikit-learn's digits as 8×8 images.

    Two 3×3 convolutions of 8 and 16 channels (ReLU, 2×2 max-pooling) and a
    dense output, He-initialised from the seed's key, trained on the softmax
    cross-entropy; the same split as `digits_mlp`. Mini-batches of 32, 6
    epochs; metric: accuracy. The channels (half `cnn_init`'s default) and
    epochs keep a 36-setting tuning run near 25 s of CPU time.

    Target: test loss ≤ 0.25. Why: the untrained network's cross-entropy is
    2.8–3.9 (seeds 0–2); in the 6 epochs the best of the 36-point grid reaches
    0.14 with Adam (96 % correct) and 0.21 with SGD (92 %). 0.25 is a working
    classifier that both reach when tuned and a badly tuned rate misses.
    """
    return Problem(
        name="digits_cnn",
        init=lambda key: models.cnn_init(key, (8, 8, 1), channels=DIGITS_CNN_CHANNELS),
        loss=_cnn_loss,
        target=0.25,
        steps=6,
        data=_digits(images=True),
        batch_size=32,
        metric=_cnn_correct,
    )


FASHION_MLP_SIZES = (196, 100, 50, 10)


@functools.cache
def _fashion_mnist(data_dir: str) -> Datasets:
    """Fashion-MNIST at 14×14, a sixth of the training images (10,000) held out for validation."""
    return _with_validation(datasets.fashion_mnist(data_dir), 1 / 6)


def _fashion_mlp_init(key: jax.Array) -> list:
    return models.mlp_init(key, FASHION_MLP_SIZES)


def fashion_mnist(data_dir: str | os.PathLike | None = None) -> Problem:
    """The texts' MLP on Fashion-MNIST (seed 001's momentum experiment), from ``data_dir``.

    196-100-50-10 sigmoids on the squared error, as `digits_mlp`, on the
    images shrunk to 14×14 as the book does (`gdjax.training.datasets.fashion_mnist`,
    which reads the four IDX files and never downloads). 10,000 of the 60,000
    training images (stratified, seed 1) are the validation set; the 10,000
    test images the test set. Mini-batches of 128, 5 epochs (≈ 2000 steps: a
    36-setting tuning run of 2 epochs took 18 s of CPU time on stand-in images
    of the full size); metric: accuracy.

    Target: test loss ≤ 0.15. Why: the same network starts near 1.1–1.8 as on
    digits (its sigmoid outputs do not depend on the data much), and ten kinds
    of clothing are harder to tell apart than ten digits, hence a looser target
    than `digits_mlp`'s 0.1. Unlike the other targets it has not been checked
    against runs (no Fashion-MNIST files where it was set): run the benchmark
    once with ``data_dir`` before quoting it.

    Args:
      data_dir: the directory holding the four IDX files.

    Raises:
      ValueError: ``data_dir`` is None.
      FileNotFoundError: a file is missing (the message lists them and where to get them).
    """
    if data_dir is None:
        raise ValueError(
            "problem 'fashion_mnist' needs data_dir, the directory of its four IDX files "
            f"(from {datasets.FASHION_MNIST_URL}; gdjax never downloads), got None"
        )
    return Problem(
        name="fashion_mnist",
        init=_fashion_mlp_init,
        loss=models.mlp_loss,
        target=0.15,
        steps=5,
        data=_fashion_mnist(os.fspath(data_dir)),
        batch_size=128,
        metric=_mlp_correct,
    )


# --------------------------------------------------------------------------- the registry

_BUILDERS: dict[str, Callable[[], Problem]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "rastrigin": rastrigin,
    "two_gaussians": two_gaussians,
    "sparse_logistic": sparse_logistic,
    "digits_mlp": digits_mlp,
    "digits_cnn": digits_cnn,
}

DEFAULT = tuple(_BUILDERS)
"""Every problem that needs no files: what the benchmark runs by default."""

QUICK = ("quadratic", "rosenbrock", "two_gaussians", "sparse_logistic")
"""The cheapest problems, for a quick look: one 36-setting tuning run of each takes under
5 s of CPU time, compilation included (Rastrigin, as cheap, is left out: its target is
mostly luck)."""


def names() -> list[str]:
    """Every problem's name, ``fashion_mnist`` (which needs ``data_dir``) last."""
    return [*_BUILDERS, "fashion_mnist"]


def defaults(data_dir: str | os.PathLike | None = None) -> tuple[str, ...]:
    """`DEFAULT`, and ``fashion_mnist`` too when ``data_dir`` is given."""
    return DEFAULT if data_dir is None else (*DEFAULT, "fashion_mnist")


def get(name: str, data_dir: str | os.PathLike | None = None) -> Problem:
    """The problem called ``name``.

    Args:
      name: one of `names`.
      data_dir: the directory of Fashion-MNIST's files, for ``fashion_mnist``
        (the other problems ignore it).

    Returns:
      The `Problem`.

    Raises:
      ValueError: ``name`` is unknown (the message lists the names), or it is
        ``fashion_mnist`` and ``data_dir`` is None.
    """
    if name == "fashion_mnist":
        return fashion_mnist(data_dir)
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"unknown problem {name!r}; choose one of: {', '.join(names())}")
    return _BUILDERS[name]()
