"""Checkpoints of `fit` and `fit_many`, and resuming from them exactly.

A training run is a pure function of its inputs and of the driver's state
between epochs, so saving all of that after an epoch and loading it again
continues the run bit for bit: the params, the optimizer state (PRNG keys,
counters, plateau and finite-check state included), the data-shuffling key
(epoch ``e`` shuffles with ``fold_in(key, e)``), the early-stopping
bookkeeping, the best params, the ``value=`` the next epoch hands the
optimizer, and the history recorded so far.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import checkpoint
from gdjax.keys import is_key


def _field(*names: str) -> str:
    """The path of ``extra[names[0]][names[1]]...`` in a restored flat ``extra``."""
    return "extra" + "".join(f"[{name!r}]" for name in names)


def _subtree(flat: dict[str, np.ndarray], prefix: str, like: Any) -> Any:
    """The tree of ``like``'s structure whose leaves ``flat`` holds under ``prefix``."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for path, leaf in paths:
        data = flat[prefix + jax.tree_util.keystr(path)]
        leaves.append(jnp.asarray(data, leaf.dtype) if isinstance(leaf, jax.Array) else data)
    return jax.tree.unflatten(treedef, leaves)


def _identity_array(value: Any) -> np.ndarray:
    """What identifies a run, as an array to save and compare: a key as its data,
    None (no ``order=``) as an empty array, which no given order can be."""
    if value is None:
        return np.zeros((0,), np.int64)
    return np.asarray(jax.random.key_data(value) if is_key(value) else value)


def _shown(value: np.ndarray | None) -> str:
    if value is None:
        return "none"
    if value.size == 0:
        return "None"
    value = np.atleast_1d(value)
    items = [np.array2string(v, separator=", ") if v.ndim else str(v) for v in value]
    if len(items) > 8:
        items = [*items[:3], "...", *items[-3:]]
    return "[" + ", ".join(items) + "]"


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


class RunCheckpoints:
    """Where and how often a training run saves itself, and what it was run with.

    ``config`` names the settings a resumed run must share with the saved one
    (the number of examples, the batching); ``identity`` what makes it the same
    run (``fit_many``'s seeds and settings, the ``order``, the shuffling key).
    A difference is refused: resuming would mix two runs.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        every: int,
        resume: bool,
        config: dict[str, int],
        description: str,
        identity: Mapping[str, Any] | None = None,
    ) -> None:
        self.directory = directory
        self.every = every
        self.config = config
        self.description = description
        self.identity = {name: _identity_array(v) for name, v in (identity or {}).items()}
        found = checkpoint.latest(directory)
        if found is not None and not resume:
            raise ValueError(
                f"{description}: checkpoint_dir {directory} already holds checkpoints (the "
                f"latest is step {found}); pass resume=True to continue that run, or give "
                "another checkpoint_dir"
            )
        self.resume_from = found if resume else None

    def resume(self, params: Any, state: Any, keys: Any, tally: Any, best_params: Any):
        """The saved run's ``(params, state, keys, tally, best_params, records,
        epochs, steps)`` (the epochs and optimizer steps done), or None when there
        is nothing to resume from."""
        if self.resume_from is None:
            return None
        saved = checkpoint.restore(self.directory, like=(params, state))
        flat = saved.extra or {}
        for name, value in self.config.items():
            have = int(flat[_field("config", name)])
            if have != value:
                raise ValueError(
                    f"{self.description}: the checkpoint in {self.directory} was written by a "
                    f"run with {name}={have}; this run has {name}={value}. Resume with the same "
                    "data and batching, or give another checkpoint_dir"
                )
        key_data = flat[_field("key")]
        self._check_identity(flat)
        if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.wrap_key_data(jnp.asarray(key_data), impl=jax.random.key_impl(keys))
        else:
            keys = jnp.asarray(key_data)
        tally = dataclasses.replace(
            tally,
            **{f.name: flat[_field("tally", f.name)] for f in dataclasses.fields(tally)},
        )
        if best_params is not None:
            best_params = _subtree(flat, _field("best_params"), best_params)
        epochs = int(flat[_field("epoch")])
        records = self._records(flat, epochs)
        return saved.params, saved.opt_state, keys, tally, best_params, records, epochs, saved.step

    def _check_identity(self, flat: dict[str, np.ndarray]) -> None:
        """Refuses a checkpoint of another run: other seeds, settings, order or key."""
        prefix = _field("identity")
        saved = {
            ast.literal_eval(path[len(prefix) + 1 : -1]): np.asarray(value)
            for path, value in flat.items()
            if path.startswith(prefix)
        }
        if not saved:
            return  # written before runs were identified: nothing to compare
        names = list(self.identity) + [n for n in saved if n not in self.identity]
        for name in names:
            have, want = saved.get(name), self.identity.get(name)
            if have is None or want is None or not _same(have, want):
                raise ValueError(
                    f"{self.description}: the checkpoint in {self.directory} was written with "
                    f"{name} {_shown(have)}; this run has {name} {_shown(want)}. Resuming would "
                    "mix two runs: resume with the same seeds, settings, order= and key=, or "
                    "give another checkpoint_dir"
                )

    def _records(self, flat: dict[str, np.ndarray], epochs: int) -> dict[str, list]:
        records: dict[str, list] = {}
        for name in ("train_loss", "validation_loss", "metric"):
            columns = flat.get(_field("records", name))
            records[name] = [] if columns is None else [columns[..., e] for e in range(epochs)]
        steps = flat[_field("records", "step_loss")]
        per_epoch = self.config["per_epoch"]
        bounds = [per_epoch * e for e in range(1, epochs)]
        records["step_loss"] = np.split(steps, bounds, axis=-1) if epochs else []
        return records

    def save(
        self,
        done: int,
        epoch: int,
        params: Any,
        state: Any,
        keys: Any,
        tally: Any,
        best_params: Any,
        records: dict[str, list],
    ) -> None:
        """Saves the run after ``epoch``, as checkpoint step ``done`` (optimizer steps)."""
        extra = {
            "epoch": np.int64(epoch),
            "key": keys,
            "config": {name: np.int64(value) for name, value in self.config.items()},
            "identity": self.identity,
            "tally": dataclasses.asdict(tally),
            "best_params": best_params,
            "records": {
                name: np.stack(values, axis=-1)
                for name, values in records.items()
                if values and name != "step_loss"
            },
        }
        extra["records"]["step_loss"] = np.concatenate(records["step_loss"], axis=-1)
        checkpoint.save(self.directory, done, params, state, extra)
