"""The texts' training experiments, end to end: data in, arrays and statistics out.

- `momentum`: seed 001's momentum experiment (Fig. 11-8): its sigmoid MLP
  trained 22 times at lr 1.0 without momentum and 22 times at lr 0.2 with
  momentum 0.9; accuracy and MCC per run, and mean ± SE, t-test,
  Mann-Whitney U and Cohen's d of the MCCs.
- `optimizers`: seed 001 Fig. 11-11: a small CNN trained with SGD, RMSprop,
  Adagrad and Adam, five runs each; test accuracy and training time.
- `grid`: a learning-rate × momentum grid on the same MLP, as one program;
  the best cell chosen on a validation set, scored on the test set.
- `noise`: seed 002 §6.4: plain SGD against SGD with annealed Gaussian
  gradient noise (Neelakantan et al. 2015) on a deep, narrow network.
- `order`: seed 002 §6.1: shuffling every epoch against a class-sorted
  order and an easy-first curriculum; learning curves and test MCC.
- `early_stopping`: seed 002 §6.3: validation curves trained past
  overfitting, the epoch early stopping keeps, and the test MCC there and
  at the end; `stopping_epoch` replays `gdjax.training.EarlyStopping` on a
  recorded validation curve.
- `batchnorm`: seed 002 §6.2: the MLP with and without batch normalization
  over a grid of learning rates and of init scales; the rates that train,
  the spread over init scales, and the test MCC at each best rate.

`momentum`, `optimizers`, `grid` and `batchnorm` train on scikit-learn's digits
by default, or on Fashion-MNIST from its IDX files with
``data=Dataset("fashion-mnist", directory)``.

Each function returns a NamedTuple of arrays and statistics whose
``report()`` is the printable text; nothing is printed (but the progress
bars) and nothing is drawn. `gdjax.plot` draws each result:
``plot.momentum_figure(result)``, ``plot.optimizers_figure``,
``plot.grid_figure``, ``plot.noise_figure``, ``plot.order_figure``,
``plot.early_stopping_figure``, ``plot.batchnorm_figure``.

Every experiment runs its runs as one `gdjax.training.fit_many` program (one
per optimizer in `optimizers`): the runs are vmapped, not trained one after
the other as in the book, so a wall time here is the time of all runs
together, compilation included.
"""

from gdjax.experiments._common import DATASETS, Dataset
from gdjax.experiments.batchnorm import (
    BATCHNORM_RATES,
    BATCHNORM_SCALES,
    BatchnormResult,
    batchnorm,
)
from gdjax.experiments.early_stopping import EarlyStoppingResult, early_stopping, stopping_epoch
from gdjax.experiments.grid import GRID_LEARNING_RATES, GRID_MOMENTA, GridResult, grid
from gdjax.experiments.momentum import MOMENTUM_STEPS, MomentumResult, momentum
from gdjax.experiments.noise import NoiseResult, noise
from gdjax.experiments.optimizers import (
    DIGITS_RATES,
    KERAS_RATES,
    OPTIMIZERS,
    OptimizersResult,
    optimizers,
)
from gdjax.experiments.order import OrderResult, order

__all__ = [
    "BATCHNORM_RATES",
    "BATCHNORM_SCALES",
    "DATASETS",
    "DIGITS_RATES",
    "GRID_LEARNING_RATES",
    "GRID_MOMENTA",
    "KERAS_RATES",
    "MOMENTUM_STEPS",
    "OPTIMIZERS",
    "BatchnormResult",
    "Dataset",
    "EarlyStoppingResult",
    "GridResult",
    "MomentumResult",
    "NoiseResult",
    "OptimizersResult",
    "OrderResult",
    "batchnorm",
    "early_stopping",
    "grid",
    "momentum",
    "noise",
    "optimizers",
    "order",
    "stopping_epoch",
]
