"""Reading the values of options: numbers, seeds, switches, starts, grids.

Every reader raises `UsageError` with one line that names the option, what it
was given and what it takes; `gdjax.cli.entry.main` prints that line and exits
with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gdjax import landscapes

# Limits of what one command may ask for: trajectories keep every step, so a
# mistyped 10**11 steps or grid count would exhaust the memory instead of failing.
MAX_STEPS = 1_000_000
MAX_SETTINGS = 100_000
FLOAT32_MAX = float(np.finfo(np.float32).max)
SEED_MAX = 2**32 - 1


class UsageError(Exception):
    """Bad input on the command line: reported in one line with exit status 2."""

    def __init__(self, message: str, prog: str = "gdjax") -> None:
        super().__init__(message)
        self.prog = prog


def choices(values: Iterable[str]) -> str:
    return ", ".join(values)


def listed(text: str, known: Iterable[str], what: str, flag: str) -> list[str]:
    """The comma-separated names of ``text``, each one of ``known`` (``all``: every one),
    in order, without repeats; a `UsageError` names an unknown ``what`` or an empty list."""
    known = list(known)
    if text.strip() == "all":
        return known
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in known:
            raise UsageError(f"unknown {what} {name!r}; choose from: {choices(known)}")
    if not names:
        raise UsageError(f"{flag} is empty; choose from: {choices(known)}")
    return names


def landscape(name: str) -> landscapes.Landscape:
    try:
        return landscapes.get(name)
    except ValueError as error:
        raise UsageError(str(error)) from None


def number(text: str, what: str) -> float:
    """A finite number that float32 can hold (the runs are in float32)."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise UsageError(f"{what}: {text!r} is not a finite number")
    if abs(value) > FLOAT32_MAX:
        raise UsageError(
            f"{what}: {text!r} is outside the float32 range (|x| <= {FLOAT32_MAX:.4g})"
        )
    return value


def switch(text: str, what: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise UsageError(f"{what}: {text!r} is not true or false")
    return text.strip().lower() == "true"


def seed(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer seed") from None
    if not 0 <= value <= SEED_MAX:
        raise UsageError(f"{what}: the seed must be in [0, {SEED_MAX}], got {value}")
    return value


def positive(value: float | None, flag: str) -> None:
    """``--tol`` and ``--bound``: argparse accepts 'nan', 'inf' and negatives as floats."""
    if value is not None and not (0 < value <= FLOAT32_MAX):
        raise UsageError(f"{flag} must be a finite number > 0, got {value}")


def check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps must be a positive integer <= {MAX_STEPS}, got {steps}")


def starts(texts: list[str] | None, land: landscapes.Landscape) -> np.ndarray:
    """``--start x,y`` (repeatable), or the landscape's own starts."""
    if not texts:
        if not land.starts:
            raise UsageError(f"{land.name} has no default starts; give --start")
        return np.asarray(land.starts, np.float32)
    points = []
    for text in texts:
        point = [number(part, "--start") for part in text.split(",")]
        if len(point) != land.dim:
            raise UsageError(
                f"--start {text!r} has {len(point)} coordinates; {land.name} is "
                f"{land.dim}-D (give x{',y' if land.dim == 2 else ''})"
            )
        points.append(point)
    return np.asarray(points, np.float32)


def grid_values(spec: str, flag: str) -> np.ndarray:
    """``a:b:logN`` (N log-spaced), ``a:b:N`` (N evenly spaced) or ``v1,v2,...``;
    ``flag`` names the option in messages (``--grid learning_rate``, ``--momenta``)."""
    if ":" not in spec:
        return np.asarray([number(v, flag) for v in spec.split(",")])
    parts = spec.split(":")
    if len(parts) != 3:
        raise UsageError(f"{flag} {spec!r}: write start:stop:N, start:stop:logN or v1,v2,...")
    start, stop = number(parts[0], f"{flag} start"), number(parts[1], f"{flag} stop")
    log = parts[2].startswith("log")
    count_text = parts[2][3:] if log else parts[2]
    # isdecimal, not isdigit: int() refuses superscripts such as '²', which isdigit accepts.
    if not count_text.isdecimal() or int(count_text) < 1:
        raise UsageError(f"{flag} {spec!r}: {parts[2]!r} is not a count like 20 or log20")
    if log and (start <= 0 or stop <= 0):
        raise UsageError(f"{flag} {spec!r}: a log range needs positive ends")
    count = int(count_text)
    if count > MAX_SETTINGS:
        raise UsageError(f"{flag} {spec!r}: {count} values; at most {MAX_SETTINGS} settings in all")
    return np.geomspace(start, stop, count) if log else np.linspace(start, stop, count)
