"""scale_by_muon and its Newton–Schulz iteration against optax.contrib 0.2.8."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

from gdjax.base import chain
from gdjax.transforms.muon import (
    MuonDimensionNumbers,
    MuonState,
    orthogonalize_via_newton_schulz,
    scale_by_muon,
    scale_by_shape,
)
from gdjax.transforms.scaling import scale_by_learning_rate
from tests.helpers import assert_moved, assert_trees_close, nested_params, run


def matrices(dtype=jnp.float32) -> dict:
    """The matrix leaves of `nested_params` and a 3-D weight (a batch of two 3x4 matrices)."""
    p = nested_params(dtype)
    stack = jax.random.normal(jax.random.key(7), (3, 2, 4), dtype)
    return {"w": p["dense"]["w"], "gamma": p["blocks"][1]["gamma"], "stack": stack}


# The 3-D leaf: axis 0 in, axis 2 out, axis 1 a batch axis.
DIMS = {
    "w": MuonDimensionNumbers(),
    "gamma": MuonDimensionNumbers(),
    "stack": MuonDimensionNumbers(reduction_axis=0, output_axis=2),
}


OPTAX_DIMS = {
    "w": optax.contrib.MuonDimensionNumbers(),
    "gamma": optax.contrib.MuonDimensionNumbers(),
    "stack": optax.contrib.MuonDimensionNumbers(reduction_axis=0, output_axis=2),
}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {
            "ns_steps": 3,
            "beta": 0.9,
            "nesterov": False,
            "adaptive": True,
            "preconditioning": "aol",
            "ns_coeffs": ((4.0, -5.0, 2.0), (3.0, -3.2, 1.2)),
        },
    ],
    ids=["defaults", "non-default"],
)
def test_scale_by_muon_matches_optax(kwargs):
    params = matrices()
    ours = chain(
        scale_by_muon(**kwargs, weight_dimension_numbers=DIMS), scale_by_learning_rate(0.02)
    )
    theirs = optax.chain(
        optax.contrib.scale_by_muon(**kwargs, weight_dimension_numbers=OPTAX_DIMS),
        optax.scale_by_learning_rate(0.02),
    )
    got, state = run(ours, params)
    want, their_state = run(theirs, params, apply=optax.apply_updates)
    assert_moved(params, got)
    assert_trees_close(got, want)
    assert type(state[0])._fields == type(their_state[0])._fields
    # The momentum of a converged run is gradient noise around 0 (about 1e-6 here):
    # compared at an absolute tolerance.
    assert_trees_close(state[0].mu, their_state[0].mu, atol=1e-5)
    np.testing.assert_array_equal(state[0].ns_coeffs, their_state[0].ns_coeffs)


def test_default_dimension_numbers_treat_every_leaf_as_a_matrix():
    # optax 0.2.8 needs weight_dimension_numbers for a tree; gdjax's None means "plain matrices".
    params = {k: v for k, v in matrices().items() if k != "stack"}
    dims = {k: optax.contrib.MuonDimensionNumbers() for k in params}
    ours = chain(scale_by_muon(), scale_by_learning_rate(0.02))
    theirs = optax.chain(
        optax.contrib.scale_by_muon(weight_dimension_numbers=dims),
        optax.scale_by_learning_rate(0.02),
    )
    got, _ = run(ours, params, steps=50)
    want, _ = run(theirs, params, steps=50, apply=optax.apply_updates)
    assert_trees_close(got, want)


@pytest.mark.parametrize("preconditioning", ["frobenius", "spectral", "aol", "schatten"])
def test_newton_schulz_matches_optax_and_orthogonalises(preconditioning):
    x = jax.random.normal(jax.random.key(3), (6, 4))
    coeffs = jnp.asarray((3.4445, -4.7750, 2.0315))
    ours = orthogonalize_via_newton_schulz(x, coeffs, 5, preconditioning)
    theirs = optax.contrib._muon.orthogonalize_via_newton_schulz(x, coeffs, 5, preconditioning)
    assert_trees_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # x's singular values span 0.3 to 4; the result's are near 1.
    singular = np.linalg.svd(np.asarray(ours), compute_uv=False)
    assert np.all((singular > 0.5) & (singular < 1.5)), singular
    if preconditioning != "aol":  # AOL scales rows, which turns the singular vectors
        # O = U f(S) V^T for x = U S V^T: U^T O V is diagonal.
        u, _, vt = np.linalg.svd(np.asarray(x), full_matrices=False)
        core = u.T @ np.asarray(ours) @ vt.T
        np.testing.assert_allclose(core - np.diag(np.diag(core)), 0, atol=1e-4)


def test_newton_schulz_needs_a_matrix():
    with pytest.raises(ValueError, match="matrix"):
        orthogonalize_via_newton_schulz(jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match=r"rank >= 2"):
        scale_by_muon().update({"b": jnp.ones(3)}, scale_by_muon().init({"b": jnp.ones(3)}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ns_steps", 0),
        ("ns_steps", 2.5),
        ("beta", 1.0),
        ("beta", -0.1),
        ("eps", -1e-8),
        ("preconditioning", "polar"),
        ("ns_coeffs", (1.0, 2.0)),
        ("ns_coeffs", ((1.0, 2.0, 3.0),) * 6),  # more rows than ns_steps=5
        ("nesterov", 1),
        ("adaptive", None),
    ],
)
def test_validation(name, value):
    with pytest.raises(ValueError, match=r"^scale_by_muon: " + name + " ") as error:
        scale_by_muon(**{name: value})
    assert repr(value) in str(error.value)


def test_ns_steps_is_static_and_refuses_a_tracer():
    leaves = jax.tree.leaves(scale_by_muon(ns_steps=3))
    assert 3 not in [np.asarray(x).item() for x in leaves if np.ndim(x) == 0]
    with pytest.raises(ValueError, match="ns_steps shapes the program"):
        jax.jit(lambda n: scale_by_muon(ns_steps=n).init(matrices()))(3)
    # beta is data: one compile serves every value.
    opt = jax.tree.map(lambda *x: jnp.stack(x), scale_by_muon(beta=0.9), scale_by_muon(beta=0.95))
    assert jax.tree.leaves(opt)


def test_bfloat16_updates_and_state():
    params = matrices(jnp.bfloat16)
    t = scale_by_muon(weight_dimension_numbers=DIMS)
    state = t.init(params)
    updates, state = t.update(params, state)
    for leaf in jax.tree.leaves((updates, state.mu)):
        assert leaf.dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(updates["w"].astype(jnp.float32))))
    f32 = scale_by_muon(mu_dtype=jnp.float32, weight_dimension_numbers=DIMS)
    assert f32.update(params, f32.init(params))[1].mu["w"].dtype == jnp.float32


def test_zero_gradients_leave_params_unchanged():
    params = matrices()
    opt = chain(scale_by_muon(weight_dimension_numbers=DIMS), scale_by_learning_rate(0.1))
    got, _ = run(
        opt, params, steps=5, loss_fn=lambda p: 0.0 * sum(jnp.sum(x) for x in jax.tree.leaves(p))
    )
    assert_trees_close(got, params, rtol=0, atol=0)


@pytest.mark.parametrize("consistent_rms", [None, 0.2])
def test_scale_by_shape_matches_optax(consistent_rms):
    updates = matrices()
    # gdjax also reads optax's MuonDimensionNumbers.
    ours = scale_by_shape(OPTAX_DIMS, consistent_rms).update(updates, ())[0]
    theirs = optax.contrib._muon.scale_by_shape(OPTAX_DIMS, consistent_rms).update(updates, None)[0]
    assert_trees_close(ours, theirs)
    assert MuonState._fields == optax.contrib.MuonState._fields
