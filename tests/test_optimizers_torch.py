"""PyTorch 2.13 parity, through the arguments the docs name for each PyTorch optimizer.

Both libraries are fed the same gradient sequence (gdjax's gradients plus fixed
noise, as mini-batches give), so the comparison measures the optimizers'
arithmetic. Letting each compute its own gradients would also measure how the
loss amplifies last-bit differences: on a deterministic loss centered RMSProp
divides by a nearly-zero variance and the two runs part after ~80 steps.

Skipped when PyTorch is not installed (it is not a gdjax dependency; CI installs
torch==2.13.0 to run these).
"""

import jax
import numpy as np
import pytest

import gdjax
from tests.helpers import assert_moved, convex_loss, nested_params

torch = pytest.importorskip("torch")

STEPS = 300

# name -> (gdjax optimizer, torch optimizer class, torch keyword arguments)
CASES = {
    "sgd": (gdjax.sgd(0.05), "SGD", {"lr": 0.05}),
    "momentum": (gdjax.sgd(0.02, momentum=0.9), "SGD", {"lr": 0.02, "momentum": 0.9}),
    "nesterov": (
        gdjax.sgd(0.02, momentum=0.9, nesterov=True),
        "SGD",
        {"lr": 0.02, "momentum": 0.9, "nesterov": True},
    ),
    "adagrad": (
        gdjax.adagrad(0.1, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False),
        "Adagrad",
        {"lr": 0.1},
    ),
    "rmsprop": (
        gdjax.rmsprop(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
        "RMSprop",
        {"lr": 0.01},
    ),
    "rmsprop-centered": (
        gdjax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=False, centered=True),
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "centered": True},
    ),
    "rmsprop-momentum": (
        gdjax.rmsprop(0.005, decay=0.99, eps=1e-8, eps_in_sqrt=False, momentum=0.9),
        "RMSprop",
        {"lr": 0.005, "momentum": 0.9},
    ),
    "adadelta": (gdjax.adadelta(1.0, rho=0.9, eps=1e-6), "Adadelta", {"lr": 1.0}),
    "adadelta-weight-decay": (
        gdjax.adadelta(0.5, rho=0.95, eps=1e-5, weight_decay=0.01),
        "Adadelta",
        {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.01},
    ),
    # Betas exact in float32: the runs agree to the last bit or two.
    "adam": (
        gdjax.adam(0.01, b1=0.5, b2=0.75, eps=1e-6),
        "Adam",
        {"lr": 0.01, "betas": (0.5, 0.75), "eps": 1e-6},
    ),
    "adamw": (
        gdjax.adamw(0.01, b1=0.5, b2=0.75, weight_decay=0.05),
        "AdamW",
        {"lr": 0.01, "betas": (0.5, 0.75), "weight_decay": 0.05},
    ),
    # Default betas: gdjax (like optax) forms 1 - b2**t in float32, where 0.999 is not
    # representable (1 - f32(0.999) is off by 1.3e-5 relative); PyTorch uses float64.
    "adam-default-betas": (gdjax.adam(0.01), "Adam", {"lr": 0.01}),
    "adamw-default-betas": (
        gdjax.adamw(0.01, weight_decay=0.05),
        "AdamW",
        {"lr": 0.01, "weight_decay": 0.05},
    ),
    "adamax": (gdjax.adamax(0.01), "Adamax", {"lr": 0.01}),
    # Dozat's momentum schedule, PyTorch's momentum_decay = 0.004.
    "nadam": (
        gdjax.nadam(0.01, b1=0.5, b2=0.75, eps=1e-6, momentum_decay=0.004),
        "NAdam",
        {"lr": 0.01, "betas": (0.5, 0.75), "eps": 1e-6},
    ),
    "nadam-default-betas": (
        gdjax.nadam(0.01, momentum_decay=0.004),
        "NAdam",
        {"lr": 0.01},
    ),
}


def _run_both(ours, optimizer_name, kwargs, params):
    """300 steps of both optimizers on the same noisy gradients; returns both final params."""
    tensors = [
        torch.tensor(np.asarray(x), dtype=torch.float32, requires_grad=True)
        for x in jax.tree.leaves(params)
    ]
    theirs = getattr(torch.optim, optimizer_name)(tensors, **kwargs)
    gradient = jax.jit(jax.grad(convex_loss))
    update = jax.jit(ours.update)
    rng = np.random.default_rng(0)
    state = ours.init(params)
    for _ in range(STEPS):
        grads = jax.tree.map(
            lambda g: g + 0.3 * rng.standard_normal(g.shape).astype(np.float32), gradient(params)
        )
        updates, state = update(grads, state, params)
        params = gdjax.apply_updates(params, updates)
        for tensor, g in zip(tensors, jax.tree.leaves(grads), strict=True):
            tensor.grad = torch.tensor(np.asarray(g))
        theirs.step()
    return params, [t.detach().numpy() for t in tensors]


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch_over_300_steps(name):
    ours, optimizer_name, kwargs = CASES[name]
    start = nested_params()
    got, want = _run_both(ours, optimizer_name, kwargs, start)
    assert_moved(start, got)
    atol = 5e-5 if name.endswith("default-betas") else 1e-5
    for a, b in zip(jax.tree.leaves(got), want, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=atol)
