"""`progress_bar`, the package's one progress bar: tqdm's, a line per postfix without
tqdm, or nothing at all when disabled."""

import sys

import pytest

from gdjax.training.progress import Lines, Quiet, progress_bar

tqdm_auto = pytest.importorskip("tqdm.auto")


def drive(bar):
    """What the package's loops do with a bar: a postfix, steps, a reset, a redraw, the end."""
    bar.set_postfix_str("sgd on square")
    bar.update()
    bar.set_postfix(loss="0.5")
    bar.update(2)
    bar.n = 2
    bar.refresh()
    bar.reset(total=bar.total)
    bar.update(3)
    bar.close()


def test_enabled_is_a_tqdm_bar_with_the_description_total_and_unit(capsys):
    bar = progress_bar(3, "hogwild", unit="update")
    assert isinstance(bar, tqdm_auto.tqdm)
    assert (bar.total, bar.desc, bar.unit) == (3, "hogwild", "update")
    drive(bar)
    shown = capsys.readouterr().err
    assert "hogwild" in shown and "3/3" in shown and "update" in shown


def test_the_unit_defaults_to_tqdms():
    bar = progress_bar(2, "downpour pushes (shard 0)", enabled=True)
    assert bar.unit == "it"
    bar.close()


def test_disabled_shows_nothing_and_never_imports_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # an import would raise
    bar = progress_bar(3, "benchmark", unit="run", enabled=False)
    assert type(bar) is Quiet
    drive(bar)
    assert bar.n == 3 and bar.total == 3
    assert capsys.readouterr() == ("", "")


def test_without_tqdm_each_postfix_is_a_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    bar = progress_bar(3, "benchmark", unit="run")
    assert isinstance(bar, Lines)
    drive(bar)
    assert capsys.readouterr().err == (
        "benchmark: run 1/3, sgd on square\nbenchmark: run 2/3, loss=0.5\n"
    )
