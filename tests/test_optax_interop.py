"""gdjax's wrappers used the optax way: callable-pytree masks, ``optax.tree.map_params``,
``reduce_on_plateau`` inside ``optax.chain``, and optax's signatures (issue 12)."""

import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gdjax
from gdjax.base import GradientTransformation
from gdjax.transforms.plateau import ReduceLROnPlateauState
from gdjax.transforms.wrappers import for_optax
from tests.helpers import assert_trees_close, run

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.arange(3.0)}
MASK = {"w": True, "b": False}
LABELS = {"w": "adam", "b": "sgd"}


def _mask_fn(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


# --------------------------------------------------------------------------- callable-pytree masks


def _linear():
    return eqx.nn.Linear(3, 2, key=jax.random.key(0))


def test_masked_treats_an_equinox_module_of_bools_as_a_tree():
    model = _linear()
    mask = jax.tree.map(lambda x: x.ndim > 1, model)  # a Linear: callable, leaves are bools
    assert callable(mask)
    got, _ = run(
        gdjax.chain(gdjax.masked(gdjax.add_decayed_weights(0.5), mask), gdjax.sgd(0.1)), model
    )
    want, _ = run(
        optax.chain(optax.masked(optax.add_decayed_weights(0.5), mask), optax.sgd(0.1)), model
    )
    assert_trees_close(got, want)
    state = gdjax.masked(gdjax.trace(0.9), mask).init(model)
    assert isinstance(state.inner_state.trace.bias, gdjax.MaskedNode)


def test_adamw_takes_an_equinox_mask():
    model = _linear()
    mask = jax.tree.map(lambda x: x.ndim > 1, model)
    got, _ = run(gdjax.adamw(0.05, weight_decay=0.3, mask=mask), model)
    want, _ = run(optax.adamw(0.05, weight_decay=0.3, mask=mask), model)
    assert_trees_close(got, want)


def test_partition_treats_an_equinox_module_of_labels_as_a_tree():
    model = _linear()
    labels = jax.tree.map(lambda x: "adam" if x.ndim > 1 else "sgd", model)
    transforms = {"adam": gdjax.adam(0.05), "sgd": gdjax.sgd(0.1, 0.9)}
    got, _ = run(gdjax.partition(transforms, labels), model)
    # optax.partition calls any callable, so it gets the labels from a function.
    want, _ = run(
        optax.partition({"adam": optax.adam(0.05), "sgd": optax.sgd(0.1, 0.9)}, lambda p: labels),
        model,
    )
    assert_trees_close(got, want)


def test_a_mask_function_is_still_called():
    got, _ = run(gdjax.masked(gdjax.trace(0.9), _mask_fn), PARAMS)
    want, _ = run(optax.masked(optax.trace(0.9), _mask_fn), PARAMS)
    assert_trees_close(got, want)


def _tagged():
    """A transformation whose update takes a params-shaped extra argument ``tags``."""

    def update(updates, state, params=None, *, tags):
        return jax.tree.map(lambda u, t: u * t, updates, tags), state

    return GradientTransformation(lambda params: (), update)


def _optax_tagged():
    def update(updates, state, params=None, *, tags, **extra):
        return jax.tree.map(lambda u, t: u * t, updates, tags), state

    return optax.GradientTransformationExtraArgs(lambda params: (), update)


@pytest.mark.parametrize("kind", ["masked", "partition"])
def test_mask_compatible_extra_args_masks_params_shaped_extras(kind):
    tags = {"w": jnp.full((2, 3), 3.0), "b": jnp.full(3, 5.0)}
    if kind == "masked":
        ours = gdjax.masked(_tagged(), MASK, mask_compatible_extra_args=True)
        theirs = optax.masked(_optax_tagged(), MASK, mask_compatible_extra_args=True)
    else:
        labels = {"w": "t", "b": "i"}
        ours = gdjax.partition(
            {"t": _tagged(), "i": gdjax.identity()}, labels, mask_compatible_extra_args=True
        )
        theirs = optax.partition(
            {"t": _optax_tagged(), "i": optax.identity()}, labels, mask_compatible_extra_args=True
        )
    got, _ = ours.update(PARAMS, ours.init(PARAMS), tags=tags)
    want, _ = theirs.update(PARAMS, theirs.init(PARAMS), tags=tags)
    assert_trees_close(got, want)
    np.testing.assert_array_equal(got["w"], 3.0)


# --------------------------------------------------------------------------- map_params

_EVERY_STATE = {
    "sgd": lambda: gdjax.sgd(0.1),
    "sgd-momentum": lambda: gdjax.sgd(0.1, 0.9, nesterov=True),
    "adagrad": lambda: gdjax.adagrad(0.1),
    "rmsprop": lambda: gdjax.rmsprop(0.1, centered=True, momentum=0.9),
    "adadelta": lambda: gdjax.adadelta(0.1),
    "adadelta-mask": lambda: gdjax.adadelta(0.1, weight_decay=0.1, weight_decay_mask=MASK),
    "adam": lambda: gdjax.adam(0.1),
    "nadam": lambda: gdjax.nadam(0.1),
    "amsgrad": lambda: gdjax.amsgrad(0.1),
    "adamw": lambda: gdjax.adamw(0.1),
    "adamw-mask": lambda: gdjax.adamw(0.1, mask=MASK),
    "adamw-mask-fn": lambda: gdjax.adamw(0.1, mask=_mask_fn),
    "adamax": lambda: gdjax.adamax(0.1),
    "noisy_sgd": lambda: gdjax.noisy_sgd(0.1),
    "masked": lambda: gdjax.masked(gdjax.adam(0.1), MASK),
    "masked-fn": lambda: gdjax.masked(gdjax.adam(0.1), _mask_fn),
    "partition": lambda: gdjax.partition(
        {"adam": gdjax.adam(0.1), "sgd": gdjax.sgd(0.1, 0.9)}, LABELS
    ),
    "partition-fn": lambda: gdjax.partition(
        {"adam": gdjax.adam(0.1), "sgd": gdjax.sgd(0.1, 0.9)},
        lambda p: {"w": "adam", "b": "sgd"},
    ),
    "apply_if_finite": lambda: gdjax.apply_if_finite(gdjax.adam(0.1), 3),
    "inject_hyperparams": lambda: gdjax.inject_hyperparams(gdjax.adam)(learning_rate=0.1),
    "reduce_on_plateau": lambda: gdjax.reduce_on_plateau(),
    "chain": lambda: gdjax.chain(
        gdjax.clip_by_global_norm(1.0), gdjax.adamw(0.1, mask=MASK), gdjax.reduce_on_plateau()
    ),
    "for_optax": lambda: for_optax(gdjax.adamw(0.1, mask=MASK)),
}

# The same optimizers in optax, where it has them: map_params must find as many
# copies of the params in gdjax's state as in optax's.
_OPTAX = {
    "sgd": lambda: optax.sgd(0.1),
    "sgd-momentum": lambda: optax.sgd(0.1, 0.9, nesterov=True),
    "adagrad": lambda: optax.adagrad(0.1),
    "rmsprop": lambda: optax.rmsprop(0.1, centered=True, momentum=0.9),
    "adadelta": lambda: optax.adadelta(0.1),
    "adadelta-mask": lambda: optax.adadelta(0.1, weight_decay=0.1, weight_decay_mask=MASK),
    "adam": lambda: optax.adam(0.1),
    "nadam": lambda: optax.nadam(0.1),
    "amsgrad": lambda: optax.amsgrad(0.1),
    "adamw": lambda: optax.adamw(0.1),
    "adamw-mask": lambda: optax.adamw(0.1, mask=MASK),
    "adamw-mask-fn": lambda: optax.adamw(0.1, mask=_mask_fn),
    "adamax": lambda: optax.adamax(0.1),
    "masked": lambda: optax.masked(optax.adam(0.1), MASK),
    "masked-fn": lambda: optax.masked(optax.adam(0.1), _mask_fn),
    "partition": lambda: optax.partition(
        {"adam": optax.adam(0.1), "sgd": optax.sgd(0.1, 0.9)}, LABELS
    ),
    "partition-fn": lambda: optax.partition(
        {"adam": optax.adam(0.1), "sgd": optax.sgd(0.1, 0.9)},
        lambda p: {"w": "adam", "b": "sgd"},
    ),
    "apply_if_finite": lambda: optax.apply_if_finite(optax.adam(0.1), 3),
    "inject_hyperparams": lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.1),
    "reduce_on_plateau": lambda: optax.contrib.reduce_on_plateau(),
    "chain": lambda: optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(0.1, mask=MASK),
        optax.contrib.reduce_on_plateau(),
    ),
}


def _is_masked_node(x):
    return isinstance(x, (gdjax.MaskedNode, optax.MaskedNode))


def _params_copies(tx):
    """How many of the state's leaves map_params sees as params, and its state mapped."""
    state = tx.init(PARAMS)
    specs = {"w": "W", "b": "B"}
    mapped = optax.tree.map_params(
        tx,
        lambda _, spec: spec,
        state,
        specs,
        transform_non_params=lambda _: None,
        is_leaf=_is_masked_node,
    )
    found = [leaf for leaf in jax.tree.leaves(mapped) if leaf in ("W", "B")]
    shifted = optax.tree.map_params(tx, lambda x: x + 100, state)
    assert jax.tree.structure(shifted) == jax.tree.structure(state)
    return len(found), found


@pytest.mark.parametrize("name", sorted(_EVERY_STATE))
def test_map_params_works_on_every_state(name):
    count, found = _params_copies(_EVERY_STATE[name]())
    if name in _OPTAX:
        want, want_found = _params_copies(_OPTAX[name]())
        assert count == want
        assert sorted(found) == sorted(want_found)
    if name not in ("sgd", "reduce_on_plateau", "noisy_sgd"):
        assert count > 0


def test_map_params_gives_sharding_specs_for_a_masked_state():
    tx = gdjax.adamw(0.1, mask=MASK)
    state = tx.init(PARAMS)
    specs = optax.tree.map_params(
        tx, lambda p: jax.sharding.PartitionSpec(), state, transform_non_params=lambda _: None
    )
    leaves = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
    # adam's mu and nu for both params, and the decayed "w" only.
    assert len(leaves) == 4


# ------------------------------------------------------------------ reduce_on_plateau in optax


def _scales(tx, values):
    state = tx.init(PARAMS)
    update = jax.jit(tx.update)
    scales = []
    for v in values:
        u, state = update(PARAMS, state, PARAMS, value=jnp.asarray(v))
        scales.append(float(u["w"][0, 0]))
    return np.array(scales)


def test_reduce_on_plateau_in_optax_chain_reduces_the_scale():
    values = [5.0, 4.0] + [4.0] * 8
    ours = _scales(optax.chain(gdjax.sgd(1.0), for_optax(gdjax.reduce_on_plateau(0.5, 2))), values)
    theirs = _scales(optax.chain(optax.sgd(1.0), optax.contrib.reduce_on_plateau(0.5, 2)), values)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert abs(ours[-1]) < abs(ours[0]) * 0.3  # reduced (at least twice)


def test_reduce_on_plateau_in_optax_chain_without_the_adapter_fails_loudly():
    tx = optax.chain(gdjax.sgd(1.0), gdjax.reduce_on_plateau(0.5, 2))
    with pytest.raises(ValueError, match="needs the monitored value"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0)


def test_for_optax_drops_extra_arguments_the_transform_does_not_take():
    tx = optax.chain(
        for_optax(gdjax.sgd(1.0)), for_optax(gdjax.reduce_on_plateau(0.5, 2)), optax.scale(1.0)
    )
    u, _ = tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0, other="ignored")
    np.testing.assert_allclose(u["w"], -1.0)


def test_for_optax_keeps_the_hyperparameters_as_leaves():
    wrapped = for_optax(gdjax.reduce_on_plateau(0.5, 2))
    assert isinstance(wrapped, optax.GradientTransformationExtraArgs)
    assert 0.5 in jax.tree.leaves(wrapped)
    doubled = jax.tree.map(lambda x: x * 2 if isinstance(x, float) else x, wrapped)
    assert jax.tree.structure(doubled) == jax.tree.structure(wrapped)


# --------------------------------------------------------------------------- optax's signatures


def test_reduce_on_plateau_positionals_mean_what_they_mean_in_optax():
    args = (0.5, 2, 1e-4, 0.0, 1, 2, 0.3)  # ..., cooldown, accumulation_size, min_scale
    values = [5.0, 4.0] + [4.0] * 16
    ours = _scales(gdjax.chain(gdjax.sgd(1.0), gdjax.reduce_on_plateau(*args)), values)
    theirs = _scales(optax.chain(optax.sgd(1.0), optax.contrib.reduce_on_plateau(*args)), values)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours[-1], -0.3, rtol=1e-6)  # min_scale reached


def test_state_names_are_optaxs():
    assert ReduceLROnPlateauState is gdjax.ReduceOnPlateauState
    assert ReduceLROnPlateauState._fields == optax.contrib.ReduceLROnPlateauState._fields
    for name in ("MaskedState", "ApplyIfFiniteState", "InjectHyperparamsState"):
        assert getattr(gdjax, name)._fields == getattr(optax, name)._fields
    assert gdjax.PartitionState._fields == optax.transforms.PartitionState._fields


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (gdjax.masked, optax.masked),
        (gdjax.partition, optax.partition),
        (gdjax.inject_hyperparams, optax.inject_hyperparams),
        (gdjax.apply_if_finite, optax.apply_if_finite),
        (gdjax.reduce_on_plateau, optax.contrib.reduce_on_plateau),
    ],
)
def test_signatures_are_optaxs(ours, theirs):
    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(ours) == shape(theirs)


def test_keywords_are_optaxs():
    tx = gdjax.partition(transforms={"a": gdjax.sgd(0.1)}, param_labels={"w": "a", "b": "a"})
    tx.update(PARAMS, tx.init(PARAMS))
    inject = gdjax.inject_hyperparams(inner_factory=gdjax.sgd, static_args=("nesterov",))
    state = inject(learning_rate=0.1).init(PARAMS)
    assert set(state.hyperparams) == {"learning_rate"}
