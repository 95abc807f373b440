"""Checkpoints of a training run, on orbax-checkpoint: atomic, checked, no pickle.

A checkpoint is one step directory under ``directory``, written by orbax's
`CheckpointManager`: the arrays (params, optimizer state, and an optional
``extra`` pytree such as a data-shuffling key) in orbax's array format, and a
JSON index holding, per leaf, its path in the tree, shape, dtype and SHA-256.
Orbax writes into a temporary directory and renames it when the write is
complete, so a process killed in the middle of a save leaves the previous
checkpoint as the latest one.

`restore` compares the index with ``like`` (the trees the run starts from)
before reading an array, and refuses a different tree structure, shape or
dtype with a message that names the first differing path; every array read is
checked against its digest, so a truncated or altered file is refused rather
than trained on. Nothing here uses pickle.

In a `jax.distributed` run every process calls `save` and `restore` with the
same trees. A leaf that is a global array spread over several processes (the
params and optimizer state of ``fit(parallel=data_parallel(...))``, split by
ZeRO-1 or replicated) goes to orbax as that global array, so each process
writes the shards it holds (orbax's multi-host path: one OCDBT store per
process, merged by process 0, which also writes the metadata and commits the
step after a barrier); nothing is gathered onto one host. Such a leaf's index
entry holds a SHA-256 per shard, keyed by the shard's slice, collected from
every process. `restore` reads each shard back into the sharding of ``like``'s
leaf, and each process checks the shards it holds; the processes then agree
on the first damaged leaf, so all of them raise together. A checkpoint of a
distributed run can also be read in one process (``like`` of host arrays):
every leaf is then read whole and checked slice by slice.

Needs the ``checkpoint`` extra: ``pip install "gdjax[checkpoint]"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdjax._validation import check_int

FORMAT = 1
"""The version of the index layout; `restore` refuses any other."""

_GROUPS = ("params", "opt_state", "extra")


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or restored as asked: another tree
    structure, shape or dtype than ``like``, a corrupt or truncated file, a
    missing step."""


class Checkpoint(NamedTuple):
    """What `restore` returns.

    Attributes:
      step: the step the checkpoint was saved at.
      params: the params, in the structure and dtypes of ``like``.
      opt_state: the optimizer state, likewise.
      extra: the ``extra`` tree given to `save` (None if there was none); with a
        two-element ``like`` it comes back as a dict ``{path: array}``.
    """

    step: int
    params: Any
    opt_state: Any
    extra: Any


def _orbax():
    try:
        import orbax.checkpoint as ocp
    except ImportError as error:  # an optional extra
        raise ImportError(
            'gdjax.checkpoint needs orbax-checkpoint: pip install "gdjax[checkpoint]"'
        ) from error
    return ocp


def _manager(directory: Path, *, keep: int | None = None, write: bool = False):
    ocp = _orbax()
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        create=write,
        cleanup_tmp_directories=write,
        enable_async_checkpointing=False,
    )
    return ocp.CheckpointManager(directory, options=options)


def _directory(directory: str | os.PathLike) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    return Path(directory).expanduser().resolve()


# --------------------------------------------------------------------------- leaves


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _dtype_name(leaf: Any) -> str:
    """The dtype as saved and compared: typed PRNG keys keep their key dtype."""
    return str(leaf.dtype) if hasattr(leaf, "dtype") else str(np.asarray(leaf).dtype)


def _host(leaf: Any) -> np.ndarray:
    """The leaf's bytes on the host (a typed key as its raw key data)."""
    array = np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf, order="C")
    if not (jnp.issubdtype(array.dtype, jnp.number) or array.dtype == np.bool_):
        raise CheckpointError(f"cannot save a leaf of dtype {array.dtype} ({type(leaf).__name__})")
    return array


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


# --------------------------------------------------------------------------- global arrays


def _is_global(leaf: Any) -> bool:
    """Whether ``leaf`` is an array spread over the devices of several processes."""
    return isinstance(leaf, jax.Array) and not leaf.is_fully_addressable


def _global_data(leaf: jax.Array) -> jax.Array:
    """The global array orbax writes for ``leaf`` (a typed key as its raw key data)."""
    data = jax.random.key_data(leaf) if _is_key(leaf) else leaf
    if not (jnp.issubdtype(data.dtype, jnp.number) or data.dtype == np.bool_):
        raise CheckpointError(f"cannot save a leaf of dtype {data.dtype} ({type(leaf).__name__})")
    return data


def _slice_name(index: tuple[slice, ...], shape: Sequence[int]) -> str:
    """A shard's place in its array, the same on every process: ``"0:4,0:256"``."""
    bounds = (part.indices(length)[:2] for part, length in zip(index, shape, strict=True))
    return ",".join(f"{start}:{stop}" for start, stop in bounds)


def _slice(name: str) -> tuple[slice, ...]:
    if not name:
        return ()
    return tuple(slice(*map(int, bounds.split(":"))) for bounds in name.split(","))


def _shard_digests(data: jax.Array) -> dict[str, str]:
    """The digest of every shard this process writes (its shards of replica 0)."""
    return {
        _slice_name(shard.index, data.shape): _digest(np.asarray(shard.data, order="C"))
        for shard in data.addressable_shards
        if shard.replica_id == 0
    }


def _allgather_json(value: Any) -> list[Any]:
    """``value`` (JSON) of every process, in process order: a collective, which every
    process must call."""
    from jax.experimental import multihost_utils

    payload = np.frombuffer(json.dumps(value, sort_keys=True).encode(), np.uint8)
    lengths = multihost_utils.process_allgather(np.array([payload.size], np.int64))
    padded = np.zeros(int(lengths.max()), np.uint8)
    padded[: payload.size] = payload
    rows = multihost_utils.process_allgather(padded)
    return [
        json.loads(bytes(row[: int(n)]).decode())
        for row, n in zip(rows, lengths.reshape(-1), strict=True)
    ]


def _all_shard_digests(local: dict[int, dict[str, str]]) -> dict[int, dict[str, str]]:
    """Per global leaf, the digests of its shards from every process."""
    merged: dict[int, dict[str, str]] = {i: {} for i in local}
    for found in _allgather_json({str(i): digests for i, digests in local.items()}):
        for i, digests in found.items():
            merged[int(i)].update(digests)
    return merged


def _flatten(trees: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(path, leaf)`` for every leaf of the groups, paths like ``params['w']``."""
    leaves = []
    for group in _GROUPS:
        for path, leaf in jax.tree_util.tree_flatten_with_path(trees[group])[0]:
            leaves.append((group + jax.tree_util.keystr(path), leaf))
    return leaves


def _treedefs(trees: dict[str, Any]) -> dict[str, str]:
    return {group: str(jax.tree.structure(trees[group])) for group in _GROUPS}


def _name(index: int) -> str:
    return f"leaf_{index:06d}"


# --------------------------------------------------------------------------- save


def _arrays_and_index(trees: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """The arrays orbax writes (host arrays, and global arrays as they are) and the
    index entry of every leaf."""
    arrays, leaves, shards = {}, [], {}
    for i, (path, leaf) in enumerate(_flatten(trees)):
        try:
            data = _global_data(leaf) if _is_global(leaf) else _host(leaf)
        except CheckpointError as error:
            raise CheckpointError(f"checkpoint.save: {path}: {error}") from None
        info = {
            "path": path,
            "shape": list(jnp.shape(leaf)),
            "data_shape": list(data.shape),
            "dtype": _dtype_name(leaf),
            "data_dtype": str(np.dtype(data.dtype)),
        }
        if isinstance(data, np.ndarray):
            info["sha256"] = _digest(data)
        else:  # each process hashes what it writes; the digests are gathered below
            shards[i] = _shard_digests(data)
        leaves.append(info)
        if data.size:  # orbax refuses zero-size arrays; their shape is in the index
            arrays[_name(i)] = data
    if shards:  # a collective: every process saves the same trees, so all come here
        for i, digests in _all_shard_digests(shards).items():
            leaves[i]["shards"] = digests
    return arrays, leaves


def save(
    directory: str | os.PathLike,
    step: int,
    params: Any,
    opt_state: Any,
    extra: Any = None,
    *,
    keep: int | None = 3,
) -> Path:
    """Saves ``params``, ``opt_state`` and ``extra`` as checkpoint ``step`` of ``directory``.

    The write is atomic (orbax renames a finished temporary directory), so a
    crash during the save leaves the previous checkpoint intact; leftover
    temporary directories of such a crash are removed by the next save.
    In a `jax.distributed` run every process calls it with the same trees: a
    global array leaf is written shard by shard, each process its own shards.

    Args:
      directory: the run's checkpoint directory (created if missing).
      step: a non-negative int, larger than every step already saved.
      params: the params, a pytree of arrays.
      opt_state: the optimizer state (PRNG keys included, typed or raw).
      extra: any other pytree of arrays or numbers to keep with them, e.g. the
        data-shuffling key and the epoch; None for none.
      keep: how many of the newest checkpoints to keep (older ones are deleted
        after this one is complete); None keeps all. Default 3.

    Returns:
      The path of the checkpoint's directory.

    Raises:
      CheckpointError: ``step`` is not newer than the latest saved step, or a
        leaf is not an array of numbers.
    """
    step = check_int("checkpoint.save", "step", step, 0)
    if keep is not None:
        keep = check_int("checkpoint.save", "keep", keep, 1)
    root = _directory(directory)
    trees = {"params": params, "opt_state": opt_state, "extra": extra}
    arrays, leaves = _arrays_and_index(trees)
    index = {"format": FORMAT, "step": step, "treedefs": _treedefs(trees), "leaves": leaves}

    ocp = _orbax()
    manager = _manager(root, keep=keep, write=True)
    try:
        latest_step = manager.latest_step()
        if latest_step is not None and step <= latest_step:
            raise CheckpointError(
                f"checkpoint.save: step {step} is not after the latest checkpoint in {root} "
                f"(step {latest_step}); steps must increase"
            )
        items = {"index": ocp.args.JsonSave(index)}
        if arrays:
            items["arrays"] = ocp.args.StandardSave(arrays)
        manager.save(step, args=ocp.args.Composite(**items))
        manager.wait_until_finished()
    finally:
        manager.close()
    return root / str(step)


# --------------------------------------------------------------------------- reading


def steps(directory: str | os.PathLike) -> list[int]:
    """The steps of the complete checkpoints in ``directory``, oldest first ([] if none)."""
    root = _directory(directory)
    if not root.is_dir():
        return []
    manager = _manager(root)
    try:
        return sorted(manager.all_steps())
    finally:
        manager.close()


def latest(directory: str | os.PathLike) -> int | None:
    """The step of the newest complete checkpoint in ``directory``, or None if there is none."""
    found = steps(directory)
    return found[-1] if found else None


def _read(manager: Any, root: Path, step: int, name: str, target: Any = None) -> Any:
    """Item ``name`` (``"index"`` or ``"arrays"``, read into ``target``) of checkpoint
    ``step``."""
    ocp = _orbax()
    how = {"index": ocp.args.JsonRestore(), "arrays": ocp.args.StandardRestore(target)}[name]
    try:
        return manager.restore(step, args=ocp.args.Composite(**{name: how}))[name]
    except Exception as error:  # orbax and tensorstore raise many kinds; all mean unreadable
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint step {step} in {root} cannot be read (truncated or altered?): {first}"
        ) from error


def _check_index(index: Any, root: Path, step: int) -> None:
    where = f"checkpoint step {step} in {root}"
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise CheckpointError(f"{where} has no gdjax index of format {FORMAT}")
    leaves = index.get("leaves")
    if not isinstance(leaves, list) or not all(isinstance(leaf, dict) for leaf in leaves):
        raise CheckpointError(f"{where}: its index is malformed")


def _mismatch(index: dict, trees: dict[str, Any], groups: Sequence[str]) -> str | None:
    """A sentence naming the first difference between the saved trees and ``trees``."""
    saved = [leaf for leaf in index["leaves"] if leaf["path"].startswith(tuple(groups))]
    wanted = [(p, leaf) for p, leaf in _flatten(trees) if p.startswith(tuple(groups))]
    saved_paths = {leaf["path"] for leaf in saved}
    wanted_paths = {path for path, _ in wanted}
    for have, (path, leaf) in zip(saved, wanted, strict=False):  # lengths compared below
        if have["path"] != path:
            if have["path"] not in wanted_paths:
                return f"the checkpoint has {have['path']}, which like lacks"
            if path not in saved_paths:
                return f"like has {path}, which the checkpoint lacks"
            return f"like has {path} where the checkpoint has {have['path']}"
        shape, dtype = list(jnp.shape(leaf)), _dtype_name(leaf)
        if have["shape"] != shape or have["dtype"] != dtype:
            return (
                f"at {path} the checkpoint has shape {tuple(have['shape'])} {have['dtype']}, "
                f"like has shape {tuple(shape)} {dtype}"
            )
    if len(saved) > len(wanted):
        return f"the checkpoint has {saved[len(wanted)]['path']}, which like lacks"
    if len(wanted) > len(saved):
        return f"like has {wanted[len(saved)][0]}, which the checkpoint lacks"
    for group in groups:
        if index["treedefs"].get(group) != str(jax.tree.structure(trees[group])):
            return (
                f"the {group} trees differ in structure: the checkpoint has "
                f"{index['treedefs'].get(group)}, like has {jax.tree.structure(trees[group])}"
            )
    return None


def _target(info: dict, like: Any) -> Any:
    """How orbax reads a leaf: into the sharding of ``like``'s leaf when that is a
    global array (each process reads its own shards), else whole onto the host (a
    NumPy array stands for that: orbax would read a bare shape in the saved sharding)."""
    shape, dtype = tuple(info["data_shape"]), jnp.dtype(info["data_dtype"])
    if not _is_global(like):
        return np.broadcast_to(np.zeros((), dtype), shape)  # no memory: a shape and dtype
    sharding = (jax.random.key_data(like) if _is_key(like) else like).sharding
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _host_intact(data: np.ndarray, info: dict) -> bool:
    """Whether host ``data`` has the leaf's digest (whole, or of each saved shard)."""
    if "sha256" in info:
        return _digest(np.asarray(data, order="C")) == info["sha256"]
    shards = info.get("shards")
    return isinstance(shards, dict) and all(
        _digest(np.ascontiguousarray(data[_slice(name)])) == digest
        for name, digest in shards.items()
    )


def _global_intact(data: jax.Array, info: dict) -> bool:
    """Whether the shards of global ``data`` that this process holds have their digests.
    Read in another layout than saved, the leaf is gathered and checked whole."""
    shards = info.get("shards")
    layout = {
        _slice_name(index, data.shape)
        for index in data.sharding.devices_indices_map(data.shape).values()
    }
    if isinstance(shards, dict) and layout == set(shards):
        return all(
            _digest(np.asarray(shard.data, order="C"))
            == shards[_slice_name(shard.index, data.shape)]
            for shard in data.addressable_shards
        )
    from jax.experimental import multihost_utils  # the same decision on every process

    return _host_intact(np.asarray(multihost_utils.process_allgather(data, tiled=True)), info)


def _load(info: dict, arrays: dict[str, Any], i: int, where: str) -> tuple[Any, bool]:
    """Leaf ``i`` as read, and whether it is intact (on this process's part of it)."""
    if np.prod(info["data_shape"], dtype=int) == 0:
        return np.zeros(info["data_shape"], jnp.dtype(info["data_dtype"])), True
    if _name(i) not in arrays:
        raise CheckpointError(f"{where}: {info['path']} is missing")
    data = arrays[_name(i)]
    if not isinstance(data, jax.Array):
        data = np.asarray(data)
    if list(data.shape) != info["data_shape"] or str(np.dtype(data.dtype)) != info["data_dtype"]:
        return data, False
    return data, _global_intact(data, info) if _is_global(data) else _host_intact(data, info)


def _first_damaged(intact: list[bool], collective: bool) -> int | None:
    """The first leaf that any process found damaged; with ``collective`` the processes
    agree on it, so that all of them raise (or none does)."""
    first = next((i for i, ok in enumerate(intact) if not ok), len(intact))
    if collective:
        first = min(_allgather_json(first))
    return first if first < len(intact) else None


def _like_leaf(data: Any, like: Any) -> Any:
    """``data`` in the form of ``like``'s leaf: a typed key, a jax array on like's
    devices (a global array in like's sharding), a NumPy array or a Python scalar."""
    if isinstance(data, jax.Array):  # read shard by shard into like's sharding
        return (
            jax.random.wrap_key_data(data, impl=jax.random.key_impl(like))
            if _is_key(like)
            else data
        )
    if _is_global(like):  # a zero-size leaf, which orbax did not write
        data = _placed(data, (jax.random.key_data(like) if _is_key(like) else like).sharding)
    if _is_key(like):
        return jax.random.wrap_key_data(jnp.asarray(data), impl=jax.random.key_impl(like))
    if isinstance(like, jax.Array):
        sharding = getattr(like, "sharding", None)
        return jax.device_put(data, sharding) if sharding is not None else jnp.asarray(data)
    if isinstance(like, (bool, int, float, complex)):
        return type(like)(data.item())
    return data


def _placed(data: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """Host ``data``, which every process holds whole, as a global array."""
    return jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])


def restore(
    directory: str | os.PathLike, like: Sequence[Any], step: int | None = None
) -> Checkpoint:
    """Restores checkpoint ``step`` (the latest by default) of ``directory``.

    Args:
      directory: the run's checkpoint directory.
      like: ``(params, opt_state)`` or ``(params, opt_state, extra)``: trees of
        the structure, shapes and dtypes the checkpoint must have (the run's
        initial values, say). Leaves come back in the form of ``like``'s: jax
        arrays on the same devices, NumPy arrays, Python scalars, typed keys.
        A global array of a `jax.distributed` run (every process calls
        `restore`) comes back in its sharding, each process reading its shards.
      step: the step to restore; None for the latest.

    Returns:
      A `Checkpoint` ``(step, params, opt_state, extra)``.

    Raises:
      FileNotFoundError: there is no checkpoint in ``directory``.
      CheckpointError: ``step`` is not there; the checkpoint's trees differ
        from ``like`` (the message names the first differing path); a file is
        truncated or altered.
    """
    if not isinstance(like, (tuple, list)) or len(like) not in (2, 3):
        raise TypeError("like must be (params, opt_state) or (params, opt_state, extra)")
    root = _directory(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"no checkpoint in {root}")
    manager = _manager(root)  # one for the listing and both reads
    try:
        return _restore(manager, root, like, step)
    finally:
        manager.close()


def _read_leaves(
    manager: Any, root: Path, step: int, leaves: list[dict], like_leaves: dict[str, Any]
) -> list[Any]:
    """Every leaf of checkpoint ``step``, checked against its digests: host arrays, and
    global arrays in the sharding of their ``like`` leaf."""
    where = f"checkpoint step {step} in {root}"
    target = {
        _name(i): _target(info, like_leaves.get(info["path"]))
        for i, info in enumerate(leaves)
        if np.prod(info["data_shape"], dtype=int)
    }
    arrays = _read(manager, root, step, "arrays", target) if target else {}
    loaded = [_load(info, arrays, i, where) for i, info in enumerate(leaves)]
    collective = jax.process_count() > 1 and any(_is_global(like) for like in like_leaves.values())
    damaged = _first_damaged([ok for _, ok in loaded], collective)
    if damaged is not None:
        raise CheckpointError(
            f"{where}: {leaves[damaged]['path']} does not match its checksum (altered?)"
        )
    return [data for data, _ in loaded]


def _restore(manager: Any, root: Path, like: Sequence[Any], step: int | None) -> Checkpoint:
    available = sorted(manager.all_steps())
    if not available:
        raise FileNotFoundError(f"no checkpoint in {root}")
    if step is None:
        step = available[-1]
    step = check_int("checkpoint.restore", "step", step, 0)
    if step not in available:
        raise CheckpointError(f"no checkpoint of step {step} in {root}; it has steps {available}")
    where = f"checkpoint step {step} in {root}"

    index = _read(manager, root, step, "index")
    _check_index(index, root, step)
    groups = _GROUPS if len(like) == 3 else _GROUPS[:2]
    trees = dict(zip(_GROUPS, (*like, None) if len(like) == 2 else like, strict=True))
    difference = _mismatch(index, trees, groups)
    if difference is not None:
        raise CheckpointError(f"{where} does not match like: {difference}")

    like_leaves = dict(_flatten(trees))
    data = _read_leaves(manager, root, step, index["leaves"], like_leaves)
    restored = {}
    for group in groups:
        paths = [i for i, info in enumerate(index["leaves"]) if info["path"].startswith(group)]
        leaves = [_like_leaf(data[i], like_leaves[index["leaves"][i]["path"]]) for i in paths]
        restored[group] = jax.tree.unflatten(jax.tree.structure(trees[group]), leaves)
    if len(like) == 2:
        extra = {
            info["path"]: data[i]
            for i, info in enumerate(index["leaves"])
            if info["path"].startswith("extra")
        }
        restored["extra"] = extra or None
    return Checkpoint(step, restored["params"], restored["opt_state"], restored["extra"])
