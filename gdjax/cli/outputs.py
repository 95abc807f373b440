"""Where the command writes, checked before any work; and the drawing, done last.

A subcommand checks its output paths (and that matplotlib is there, unless
``--no-plot``) before it computes anything, so a long run never ends in an
unwritable path; it prints its results, then draws. No directory is created
that the user did not name, but gdjax's own compilation cache
(`gdjax.cli.cache`): a figure's directory must exist, and ``gdjax figures
--out DIR`` and ``gdjax --compilation-cache DIR`` make DIR but not its parents.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdjax.cli.values import UsageError

MATPLOTLIB = "drawing needs matplotlib: pip install 'gdjax[plot]' (or pass --no-plot)"


def figure_path(text: str, suffixes: tuple[str, ...] = (".png", ".gif")) -> Path:
    """``--out FILE``: a figure path whose directory exists and is writable."""
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        allowed = suffixes[0] + "".join(f" (or {s})" for s in suffixes[1:])
        raise UsageError(
            f"--out {text!r}: the figure is written as PNG, so --out must end in {allowed}; "
            "give a path ending in .png"
        )
    problem = _file_problem(path)
    if problem:
        raise UsageError(f"--out {text!r}: cannot write the figure: {problem}")
    require_matplotlib()
    return path


def directory(text: str, flag: str = "--out", what: str = "the figures") -> Path:
    """``flag DIR``: an existing writable directory, or one made now (not its parents)."""
    path = Path(text)
    if not text.strip():
        raise UsageError(f"{flag} {text!r}: give a directory")
    if not _exists(path):
        problem = _directory_problem(path.parent)
        if problem:
            raise UsageError(f"{flag} {text!r}: cannot make the directory: {problem}")
        try:
            path.mkdir()
        except OSError as error:
            raise UsageError(f"{flag} {text!r}: cannot make the directory: {error}") from None
    problem = _directory_problem(path)
    if problem:
        raise UsageError(f"{flag} {text!r}: cannot write {what} there: {problem}")
    return path


def require_matplotlib() -> None:
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UsageError(MATPLOTLIB)


def _file_problem(path: Path) -> str | None:
    try:
        if path.is_dir():
            return f"{str(path)!r} is a directory"
        problem = _directory_problem(path.parent)
        if problem is None and path.exists() and not os.access(path, os.W_OK):
            return f"{str(path)!r} is read-only"
        return problem
    except (OSError, ValueError) as error:
        return str(error)


def _directory_problem(directory: Path) -> str | None:
    """Why nothing can be written in ``directory``, or None."""
    try:
        if directory.is_dir():
            if not os.access(directory, os.W_OK | os.X_OK):
                return f"the directory {str(directory)!r} is not writable"
            return None
        for above in (directory, *directory.parents):
            if above.exists() and not above.is_dir():
                return f"{str(above)!r} is a file, not a directory"
    except (OSError, ValueError) as error:
        return str(error)
    return f"the directory {str(directory)!r} does not exist; create it first"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return True  # something is there, or cannot be looked at: _directory_problem says


def draw(figure: Callable[[], Any], out: Path) -> None:
    """Draws ``figure()`` into ``out`` once the results are printed; one line if it fails."""
    try:
        from gdjax import plot

        plot.save(figure(), out)
    except ImportError as error:
        hint = " (or pass --no-plot)" if _is_matplotlib(error) else ""
        raise UsageError(f"{out} not written: {error}{hint}") from None
    except OSError as error:
        raise UsageError(f"--out {str(out)!r}: cannot write the figure: {error}") from None
    print(f"wrote {out}")


def _is_matplotlib(error: BaseException | None) -> bool:
    """Whether a missing matplotlib caused ``error`` (the one that --no-plot avoids)."""
    while error is not None:
        name = getattr(error, "name", None) or ""
        if name.split(".")[0] == "matplotlib" or "matplotlib" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False
