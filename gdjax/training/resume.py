"""Checkpoints of `fit` and `fit_many`, and resuming from them exactly.

A training run is a pure function of its inputs and of the driver's state
between epochs (a `RunState`), so saving all of that after an epoch and
loading it again continues the run bit for bit: the params, the optimizer
state (PRNG keys, counters, plateau and finite-check state included), the
data-shuffling key (epoch ``e`` shuffles with ``fold_in(key, e)``), the
early-stopping bookkeeping, the best params, the ``value=`` the next epoch
hands the optimizer, the model state (batch normalization's running averages,
and those of the best params), and the history recorded so far. `RunCheckpoints` reads
and writes them; `Checkpointer` is the driver's hook that does it between epochs.

A run on a mesh that spans several processes (``jax.distributed``) saves from
every process at once: its params and optimizer state go to `gdjax.checkpoint`
as global arrays, each process writing its shards, and come back in the same
sharding. The other saved values (keys, best params, model state) are read
whole by every process and put back in the layout of the run's own values.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdjax import checkpoint
from gdjax.distributed.data_parallel import place
from gdjax.keys import is_key
from gdjax.training.hooks import Epoch, Hook, RunState
from gdjax.training.options import Checkpointing

_CONFIG_NAMES = {
    "batch_size": "batching.batch_size",
    "drop_last": "batching.drop_last",
    "shuffle": "batching.shuffle",
}
"""How the config a checkpoint records is named in its errors (as the user writes it)."""


def _field(*names: str) -> str:
    """The path of ``extra[names[0]][names[1]]...`` in a restored flat ``extra``."""
    return "extra" + "".join(f"[{name!r}]" for name in names)


def _subtree(flat: dict[str, np.ndarray], prefix: str, like: Any) -> Any:
    """The tree of ``like``'s structure whose leaves ``flat`` holds under ``prefix``,
    each laid out like ``like``'s leaf."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for path, leaf in paths:
        data = flat[prefix + jax.tree_util.keystr(path)]
        if isinstance(leaf, jax.Array):
            data = _laid_out_like(np.asarray(data, leaf.dtype), leaf)
        leaves.append(data)
    return jax.tree.unflatten(treedef, leaves)


def _laid_out_like(data: Any, leaf: jax.Array) -> Any:
    """Host ``data`` as a jax array where ``leaf`` is: a global array of a run that spans
    several processes (each process holds ``data`` whole and keeps its part), else
    this process's default device, as `jnp.asarray` puts it."""
    if not leaf.is_fully_addressable:
        return place(data, leaf.sharding)
    return jnp.asarray(data)


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
        checkpointing: Checkpointing,
        config: dict[str, int],
        caller: str,
        identity: Mapping[str, Any] | None = None,
    ) -> None:
        self.directory = checkpointing.directory
        self.every = checkpointing.every
        self.config = config
        self.caller = caller
        self.identity = {name: _identity_array(v) for name, v in (identity or {}).items()}
        found = checkpoint.latest(self.directory)
        if found is not None and not checkpointing.resume:
            raise ValueError(
                f"{caller}: checkpointing.directory {self.directory} already holds checkpoints "
                f"(the latest is step {found}); pass Checkpointing(..., resume=True) to "
                "continue that run, or give another directory"
            )
        self.resume_from = found if checkpointing.resume else None

    def resume(self, run: RunState) -> RunState | None:
        """The saved run, restored in the structure of ``run``, or None when there is
        nothing to resume from."""
        if self.resume_from is None:
            return None
        saved = checkpoint.restore(self.directory, like=(run.params, run.opt_state))
        flat = saved.extra or {}
        for name, value in self.config.items():
            have = int(flat[_field("config", name)])
            if have != value:
                shown = _CONFIG_NAMES.get(name, name)
                raise ValueError(
                    f"{self.caller}: the checkpoint in {self.directory} was written by a run "
                    f"with {shown}={have}; this run has {shown}={value}. Resume with the same "
                    "data and batching, or give another checkpointing.directory"
                )
        self._check_identity(flat)
        tally = dataclasses.replace(
            run.tally,
            **{f.name: flat[_field("tally", f.name)] for f in dataclasses.fields(run.tally)},
        )
        best_params = run.best_params
        if best_params is not None:
            best_params = _subtree(flat, _field("best_params"), best_params)
        model_state, best_model_state = (
            self._model_state(flat, name, getattr(run, name))
            for name in ("model_state", "best_model_state")
        )
        epochs = int(flat[_field("epoch")])
        return RunState(
            params=saved.params,
            opt_state=saved.opt_state,
            keys=_keys_like(flat[_field("key")], run.keys),
            tally=tally,
            best_params=best_params,
            records=self._records(flat, epochs),
            epochs=epochs,
            steps=saved.step,
            model_state=model_state,
            best_model_state=best_model_state,
        )

    def _model_state(self, flat: dict[str, np.ndarray], name: str, like: Any) -> Any:
        """The saved ``extra[name]`` in the structure of ``like``; a run with a model state
        refuses a checkpoint without one."""
        prefix = _field(name)
        leaves = jax.tree.leaves(like)
        if leaves and not any(path.startswith(prefix) for path in flat):
            raise ValueError(
                f"{self.caller}: the checkpoint in {self.directory} holds no {name}, which "
                "this run has (it was written by a run without model_state=); give another "
                "checkpointing.directory"
            )
        return _subtree(flat, prefix, like)

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
                    f"{self.caller}: the checkpoint in {self.directory} was written with "
                    f"{name} {_shown(have)}; this run has {name} {_shown(want)}. Resuming would "
                    "mix two runs: resume with the same seeds, settings, batching.order and "
                    "key=, or give another checkpointing.directory"
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

    def save(self, run: RunState) -> None:
        """Saves ``run`` after its last epoch, as checkpoint step ``run.steps``."""
        records = run.records
        extra = {
            "epoch": np.int64(run.epochs),
            "key": run.keys,
            "config": {name: np.int64(value) for name, value in self.config.items()},
            "identity": self.identity,
            "tally": dataclasses.asdict(run.tally),
            "best_params": run.best_params,
            "model_state": run.model_state,
            "best_model_state": run.best_model_state,
            "records": {
                name: np.stack(values, axis=-1)
                for name, values in records.items()
                if values and name != "step_loss"
            },
        }
        extra["records"]["step_loss"] = np.concatenate(records["step_loss"], axis=-1)
        checkpoint.save(self.directory, run.steps, run.params, run.opt_state, extra)


def _keys_like(data: np.ndarray, keys: Any) -> Any:
    """Saved key data as keys of the kind of ``keys`` (typed keys of its impl, or raw)."""
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        restored = jax.random.wrap_key_data(jnp.asarray(data), impl=jax.random.key_impl(keys))
        return restored if keys.is_fully_addressable else place(restored, keys.sharding)
    return _laid_out_like(np.asarray(data), keys)


class Checkpointer(Hook):
    """Resumes a run from its checkpoints before the first epoch, and saves it every
    ``checkpoints.every`` epochs, after the last epoch of ``lengths`` (the steps of
    each), and when every run has stopped."""

    def __init__(self, checkpoints: RunCheckpoints, lengths: tuple[int, ...]) -> None:
        self.checkpoints = checkpoints
        self.lengths = lengths

    def start(self, run: RunState) -> None:
        resumed = self.checkpoints.resume(run)
        if resumed is None:
            return
        planned = sum(self.lengths[: resumed.epochs])
        if resumed.steps != planned and resumed.epochs < len(self.lengths):
            raise ValueError(
                f"{self.checkpoints.caller}: the checkpoint in {self.checkpoints.directory} "
                f"ends after a partial epoch ({resumed.steps} steps in {resumed.epochs} "
                "epochs), which this run's plan would have to complete: a run that ended "
                "mid-epoch can be resumed only to the same steps="
            )
        for field in dataclasses.fields(run):
            setattr(run, field.name, getattr(resumed, field.name))

    def due(self, run: RunState, epoch: Epoch) -> bool:
        """Whether to save after ``epoch``."""
        last = epoch.number == len(self.lengths) or not run.tally.active.any()
        return last or epoch.number % self.checkpoints.every == 0

    def after_epoch(self, run: RunState, epoch: Epoch) -> None:
        if self.due(run, epoch):
            self.checkpoints.save(run)
