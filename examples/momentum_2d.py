"""Seed 003 (Dive into Deep Learning §7.4): gradient descent and momentum on f = 0.1 x1² + 2 x2².

From (-5, -2), 20 steps. The text's momentum is v = gamma*v + eta*g; x = x - v,
which for a constant eta is ``gdjax.sgd(eta, momentum=gamma)``. Its four printed
results are reproduced here in float64, next to float32 for comparison.

    python examples/momentum_2d.py
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import gdjax  # noqa: E402

CASES = [
    # label, eta, gamma (None: plain gradient descent), the text's x1, x2
    ("gradient descent", 0.4, None, (-0.943467, -0.000073)),
    ("gradient descent", 0.6, None, (-0.387814, -1673.365109)),
    ("momentum", 0.4, 0.5, (-0.062843, 0.001202)),
    ("momentum", 0.6, 0.5, (0.007188, 0.002553)),
]


def f(x):
    return 0.1 * x[0] ** 2 + 2 * x[1] ** 2


def descend(optimizer: gdjax.GradientTransformation, start, steps: int, dtype) -> jnp.ndarray:
    def step(carry, _):
        x, state = carry
        updates, state = optimizer.update(jax.grad(f)(x), state, x)
        return (gdjax.apply_updates(x, updates), state), None

    x0 = jnp.asarray(start, dtype)
    (x, _), _ = jax.lax.scan(step, (x0, optimizer.init(x0)), None, length=steps)
    return x


def main() -> None:
    print("Seed 003: f = 0.1 x1^2 + 2 x2^2, start (-5, -2), 20 steps")
    columns = ("text (x1, x2)", "gdjax float64", "gdjax float32")
    print(f"{'method':<17}{'eta':>5}{'gamma':>7}" + "".join(f"   {c:>26}" for c in columns))
    for label, eta, gamma, text in CASES:
        optimizer = gdjax.sgd(eta, momentum=gamma)
        x64 = descend(optimizer, (-5.0, -2.0), 20, jnp.float64)
        x32 = descend(optimizer, (-5.0, -2.0), 20, jnp.float32)

        def show(x):
            return f"({float(x[0]):.6f}, {float(x[1]):.6f})"

        print(
            f"{label:<17}{eta:>5}{gamma if gamma is not None else '-':>7}   "
            f"{show(text):>26}   {show(x64):>26}   {show(x32):>26}"
        )
    print("eta = 0.6 without momentum diverges along x2; momentum 0.5 at the same eta converges.")


if __name__ == "__main__":
    main()
