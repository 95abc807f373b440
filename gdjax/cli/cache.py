"""JAX's persistent compilation cache, on for every command unless ``--no-compilation-cache``.

`gdjax compare` and `gdjax sweep` pass the optimizers' hyperparameters to
their compiled programs as arguments (see `gdjax.trajectories`), so a program
depends on the optimizers' kinds and options, the landscape, the starts and
the step count, not on the values. With the cache on, a later process asking
for the same programs with other values (``--set sgd.learning_rate=0.2`` after
0.3, another grid of the same size) loads them from DIR instead of compiling.

JAX caches only programs that take over a second to compile, which none of the
command's do on a CPU; here every program is cached (unless JAX's own
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` or
``JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES`` says otherwise). The directory is
``--compilation-cache DIR`` when given, else ``$JAX_COMPILATION_CACHE_DIR`` (the
variable JAX itself reads), else the user's cache directory
(`user_directory`: ``$XDG_CACHE_HOME/gdjax/jax``, ``~/.cache/gdjax/jax``).
``--no-compilation-cache`` turns it off. As JAX warns, a cache is trusted code:
the default lies in a directory only the user writes to.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

from gdjax.cli import outputs

ENVIRONMENT = "JAX_COMPILATION_CACHE_DIR"
OFF = False  # what ``--no-compilation-cache`` stores: no cache for this command
# Every program, however quick to compile and however small.
THRESHOLDS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}


def default() -> str | None:
    """The directory named when the option is not given: ``$JAX_COMPILATION_CACHE_DIR``,
    or None for `user_directory`."""
    return os.environ.get(ENVIRONMENT) or None


def user_directory() -> Path:
    """gdjax's programs in the user's cache directory, by the platform's convention."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "gdjax" / "jax"


@contextlib.contextmanager
def compilation_cache(text: str | bool | None) -> Iterator[Path | None]:
    """JAX's persistent cache while the command runs: in ``text`` (checked, and made if
    missing), in `user_directory` when ``text`` is None, none when it is `OFF`; JAX's
    settings as they were afterwards (``main`` may run in-process)."""
    path = _path(text)
    if path is None:
        yield None
        return
    settings: dict[str, Any] = {"jax_compilation_cache_dir": str(path)}
    settings.update({k: v for k, v in THRESHOLDS.items() if k.upper() not in os.environ})
    saved = {name: getattr(jax.config, name) for name in settings}
    _apply(settings)
    try:
        yield path
    finally:
        _apply(saved)


def _path(text: str | bool | None) -> Path | None:
    if text is OFF:
        return None
    if text is not None:
        return outputs.directory(text, "--compilation-cache", "the cache").resolve()
    path = user_directory()
    try:  # gdjax's own directory, so its parents are made too
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # A cache only saves time: without one the command still runs, and says why.
        print(f"gdjax: no compilation cache ({path}: {error.strerror})", file=sys.stderr)
        return None
    return path.resolve()


def environment(path: Path | None) -> dict[str, str] | None:
    """The environment of a child process that shares the cache (None: the inherited)."""
    if path is None:
        return None
    thresholds = {name.upper(): str(value) for name, value in THRESHOLDS.items()}
    return {**thresholds, **os.environ, ENVIRONMENT: str(path)}


def _apply(settings: dict[str, Any]) -> None:
    # JAX opens its cache once, at the first compile after a directory is set: forget
    # the one open, so that the next compile opens the directory set now (or none).
    jax_cache.reset_cache()
    for name, value in settings.items():
        jax.config.update(name, value)
