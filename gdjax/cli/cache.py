"""``gdjax --compilation-cache DIR``: JAX's persistent compilation cache, for one command.

`gdjax compare` and `gdjax sweep` pass the optimizers' hyperparameters to
their compiled programs as arguments (see `gdjax.trajectories`), so a program
depends on the optimizers' kinds and options, the landscape, the starts and
the step count, not on the values. With the cache on, a later process asking
for the same programs with other values (``--set sgd.learning_rate=0.2`` after
0.3, another grid of the same size) loads them from DIR instead of compiling.

JAX caches only programs that take over a second to compile, which none of the
command's do on a CPU; here every program is cached (unless JAX's own
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` or
``JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES`` says otherwise). The default
directory is ``$JAX_COMPILATION_CACHE_DIR``, the variable JAX itself reads.
As JAX warns, a cache is trusted code: use a directory only you can write to.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

from gdjax.cli import outputs

ENVIRONMENT = "JAX_COMPILATION_CACHE_DIR"
# Every program, however quick to compile and however small.
THRESHOLDS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}


def default() -> str | None:
    """The directory used when the option is not given: ``$JAX_COMPILATION_CACHE_DIR``."""
    return os.environ.get(ENVIRONMENT) or None


@contextlib.contextmanager
def compilation_cache(text: str | None) -> Iterator[Path | None]:
    """JAX's persistent cache in ``text`` (checked, and made if missing) while the command
    runs; JAX's settings as they were afterwards (``main`` may run in-process)."""
    if text is None:
        yield None
        return
    path = outputs.directory(text, "--compilation-cache", "the cache").resolve()
    settings: dict[str, Any] = {"jax_compilation_cache_dir": str(path)}
    settings.update({k: v for k, v in THRESHOLDS.items() if k.upper() not in os.environ})
    saved = {name: getattr(jax.config, name) for name in settings}
    _apply(settings)
    try:
        yield path
    finally:
        _apply(saved)


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
