"""Shared by the CLI tests: a runner, a stand-in for `gdjax.experiments`, a blocked import."""

from __future__ import annotations

import sys
import types
from typing import NamedTuple

import pytest

import gdjax
from gdjax import cli, plot


class Outcome(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The one line on stderr (asserting there is exactly one, and no traceback)."""
        assert "Traceback" not in self.err, self.err
        (line,) = self.err.strip().splitlines()
        return line


@pytest.fixture
def gdjax_cli(capsys):
    """``gdjax_cli(*argv)``: runs the command in-process; its `Outcome`."""

    def run(*argv: str) -> Outcome:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Makes ``import matplotlib`` fail, as where it is not installed."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


class FakeResult(NamedTuple):
    name: str
    kwargs: dict

    def report(self) -> str:
        return f"the {self.name} report"


class FakeExperiments(types.ModuleType):
    """Stands in for `gdjax.experiments`: records each call, trains nothing."""

    def __init__(self) -> None:
        super().__init__("gdjax.experiments")
        self.calls: list[tuple[str, dict]] = []
        self.error: Exception | None = None
        for name in ("momentum", "optimizers", "grid", "noise"):
            setattr(self, name, self._experiment(name))

    def _experiment(self, name: str):
        def run(**kwargs):
            self.calls.append((name, kwargs))
            if self.error is not None:
                raise self.error
            return FakeResult(name, kwargs)

        return run


@pytest.fixture
def fake_experiments(monkeypatch):
    """`gdjax.experiments` replaced by a `FakeExperiments`, and each
    ``plot.<name>_figure`` by a small figure (or by ``fake.figure_error``)."""
    fake = FakeExperiments()
    fake.figure_error = None
    monkeypatch.setitem(sys.modules, "gdjax.experiments", fake)
    monkeypatch.setattr(gdjax, "experiments", fake, raising=False)

    def figure(result):
        if fake.figure_error is not None:
            raise fake.figure_error
        fig, ax = plot.subplots()
        ax.plot([0, 1], [1, 0])
        ax.set_title(result.name)
        return fig

    for name in ("momentum", "optimizers", "grid", "noise"):
        monkeypatch.setattr(plot, f"{name}_figure", figure, raising=False)
    return fake
