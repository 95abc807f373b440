"""The text the command prints: the compare table fits 100 columns."""

from __future__ import annotations

import json

import pytest

from gdjax.cli import registry

# Both runs over every optimizer take these steps: the second is then served by the
# CLI's compilation cache (40 s -> 14 s on 2 cores) instead of compiling every program.
STEPS = "5"


@pytest.mark.parametrize(
    "argv",
    [
        ("compare", "--no-plot"),
        ("compare", "--no-plot", "--optimizers", ",".join(registry.OPTIMIZERS), "--steps", STEPS),
        ("compare", "--no-plot", "--landscape", "saddle", "--steps", "20"),
        ("landscapes",),
    ],
)
def test_the_text_fits_100_columns(argv, gdjax_cli):
    outcome = gdjax_cli(*argv)
    assert outcome.code == 0, outcome.err
    widest = max(outcome.out.splitlines(), key=len)
    assert len(widest) <= 100, widest  # the compare table was 168 columns wide


def test_compare_names_each_optimizers_settings_once(gdjax_cli):
    outcome = gdjax_cli("compare", "--no-plot", "--optimizers", "sgd,nesterov", "--steps", "5")
    lines = outcome.out.splitlines()
    assert "  nesterov  learning_rate=0.1, momentum=0.9, nesterov=True" in lines
    assert sum("momentum=0.9" in line for line in lines) == 1
    header = next(line for line in lines if line.startswith("optimizer"))
    assert header.split() == ["optimizer", "start", "final", "point", "nearest", "minimum",
                              "settled", "diverged"]  # fmt: skip


def test_compare_without_minima_shows_the_value(gdjax_cli):
    outcome = gdjax_cli("compare", "--no-plot", "--landscape", "saddle", "--optimizers", "adam",
                        "--steps", "5")  # fmt: skip
    header = next(line for line in outcome.out.splitlines() if line.startswith("optimizer"))
    assert "value" in header and "nearest" not in header


def test_compare_all_runs_every_optimizer_the_command_knows(gdjax_cli):
    outcome = gdjax_cli("compare", "--no-plot", "--json", "--optimizers", "all", "--steps", STEPS)
    assert outcome.code == 0, outcome.err
    ran = {row["optimizer"] for row in json.loads(outcome.out)["rows"]}
    assert ran == set(registry.OPTIMIZERS)
    assert {"lion", "lbfgs", "polyak_sgd", "muon", "sf_adamw", "ogd"} <= ran
