"""Which optimizer should I use? The benchmark protocol of DeepOBS and Crowded Valley.

Seed 002 §4.8 answers from experience; DeepOBS and Crowded Valley answer with
a protocol: tune every optimizer's hyperparameters on a budget of settings,
rerun the best with several seeds, and report performance, speed and
tunability. Here each optimizer's whole budget on a problem is one compiled
program (`protocol`), the problems are small NamedTuples (`problem`,
`problems`), and the measures, statistics, Markdown and JSON are `report`'s.
``gdjax benchmark`` runs it from the command line.
"""

from gdjax.benchmark import problems
from gdjax.benchmark.problem import Datasets, Problem
from gdjax.benchmark.protocol import (
    DEFAULT_OPTIMIZERS,
    KNOWN,
    LEARNING_RATES,
    QUICK_OPTIMIZERS,
    SEARCHES,
    Budget,
    Tuned,
    benchmark,
)
from gdjax.benchmark.report import Cell, Measures, Pairwise, Results

__all__ = [
    "DEFAULT_OPTIMIZERS",
    "KNOWN",
    "LEARNING_RATES",
    "QUICK_OPTIMIZERS",
    "SEARCHES",
    "Budget",
    "Cell",
    "Datasets",
    "Measures",
    "Pairwise",
    "Problem",
    "Results",
    "Tuned",
    "benchmark",
    "problems",
]
