"""The command's own figures."""

import numpy as np
import pytest

import gdjax
from gdjax import landscapes, trajectories
from gdjax.cli import drawing

pytest.importorskip("matplotlib")


def test_the_compare_legend_names_the_critical_points_too():
    land = landscapes.two_gaussians
    starts = np.asarray(land.starts[:2], np.float32)
    runs = {"sgd": trajectories.run(gdjax.sgd(0.4), land, starts, 5)}
    fig = drawing.compare(land, runs, starts, 5)
    (legend,) = fig.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["sgd", "global minimum", "local minimum", "saddle point"]
    import matplotlib.pyplot as plt

    plt.close(fig)
