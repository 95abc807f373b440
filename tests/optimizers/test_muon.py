"""The muon alias against optax.contrib.muon 0.2.8: Muon for the matrices, AdamW for the rest."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import optax.contrib
import pytest

from gdjax.optimizers.recent import muon
from gdjax.schedules import cosine_decay
from gdjax.transforms.muon import MuonDimensionNumbers
from tests.helpers import assert_moved, assert_trees_close, nested_params, run

NON_DEFAULT = {
    "ns_steps": 3,
    "beta": 0.9,
    "nesterov": False,
    "weight_decay": 0.1,
    "adam_b1": 0.8,
    "adam_weight_decay": 0.01,
    "adam_learning_rate": 0.01,
    "consistent_rms": 0.2,
}


@pytest.mark.parametrize("kwargs", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
def test_matches_optax(kwargs):
    params = nested_params()  # two matrices for Muon; vectors and a scalar for AdamW
    got, state = run(muon(0.02, **kwargs), params)
    want, their_state = run(optax.contrib.muon(0.02, **kwargs), params, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    # The same groups, and Muon's state with optax's fields.
    ours, theirs = state[0].inner_states, their_state.inner_states
    assert sorted(ours) == sorted(theirs) == ["adam", "muon"]
    ours_muon, theirs_muon = ours["muon"].inner_state[0], theirs["muon"].inner_state[0]
    assert type(ours_muon)._fields == type(theirs_muon)._fields
    assert_trees_close(ours_muon.count, theirs_muon.count)


def test_dimension_numbers_choose_the_muon_leaves():
    # Only dense/w is Muon's; gamma (2-D) goes to AdamW, as do the vectors and the scalar.
    params = nested_params()

    def spec(mdn):
        return {
            "dense": {"w": mdn(), "b": None},
            "blocks": [None, {"gamma": None}],
            "scale": None,
        }

    got, _ = run(muon(0.02, muon_weight_dimension_numbers=spec(MuonDimensionNumbers)), params)
    theirs = optax.contrib.muon(
        0.02, muon_weight_dimension_numbers=spec(optax.contrib.MuonDimensionNumbers)
    )
    want, _ = run(theirs, params, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    default, _ = run(muon(0.02), params)
    assert not jnp.allclose(default["blocks"][1]["gamma"], got["blocks"][1]["gamma"])


def test_preset_coefficients():
    params = nested_params()
    got, _ = run(muon(0.02, ns_coeffs="dion"), params, steps=50)
    want, _ = run(
        optax.contrib.muon(0.02, ns_coeffs="dion"), params, steps=50, apply=optax.apply_updates
    )
    assert_trees_close(got, want)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ns_steps", 0),
        ("beta", 1.0),
        ("eps", -1.0),
        ("weight_decay", -0.1),
        ("preconditioning", "polar"),
        ("ns_coeffs", "standrad"),
        ("ns_coeffs", (1.0, 2.0)),
        ("adam_b1", 1.0),
        ("adam_b2", -0.5),
        ("adam_eps_root", -1.0),
        ("adam_weight_decay", -0.1),
        ("adam_learning_rate", -0.1),
        ("consistent_rms", -0.2),
        ("nesterov", 0),
    ],
)
def test_validation(name, value):
    with pytest.raises(ValueError, match=r"^muon: " + name + " ") as error:
        muon(0.02, **{name: value})
    assert repr(value) in str(error.value)


def test_bfloat16():
    params = nested_params(jnp.bfloat16)
    opt = muon(0.02)
    state = opt.init(params)
    updates, state = opt.update(params, state, params)
    for leaf in jax.tree.leaves(updates):
        assert leaf.dtype == jnp.bfloat16
    muon_state = state[0].inner_states["muon"].inner_state[0]
    assert muon_state.mu["dense"]["w"].dtype == jnp.bfloat16


def test_zero_gradients_leave_params_unchanged():
    params = nested_params()
    flat = lambda p: 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(p))  # noqa: E731
    got, _ = run(muon(0.1, weight_decay=0.0), params, steps=5, loss_fn=flat)
    assert_trees_close(got, params, rtol=0, atol=0)


def _final(opt):
    return run(opt, nested_params(), steps=60)[0]


def test_a_schedule_works_where_the_rate_does():
    got = _final(muon(cosine_decay(0.02, 60)))
    want = run(
        optax.contrib.muon(optax.cosine_decay_schedule(0.02, 60)),
        nested_params(),
        steps=60,
        apply=optax.apply_updates,
    )[0]
    assert_trees_close(got, want)
