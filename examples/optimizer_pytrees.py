"""An optimizer is a pytree of its hyperparameters: one program for many rates and many optimizers.

The texts' MLP (64-32-10, sigmoid units, squared error) on scikit-learn's
digits, trained full-batch for 300 steps:

1. a jitted step that takes the optimizer as an argument is compiled once,
   then runs Adam with three other learning rates without compiling again;
2. eight Adam optimizers, learning rates 1e-3 to 1, stacked into one tree
   (every number gets a leading axis) train eight models in one vmapped
   program, and each equals the model its optimizer trains alone;
3. `gdjax.tree.set` gives an optimizer another rate without building it again,
   and the compiled program runs it as it is.

The figure is the final training loss against the learning rate.

    python examples/optimizer_pytrees.py --out docs/figures
"""

from __future__ import annotations

import _figures  # examples/_figures.py: the shared --out/--quick
import jax
import jax.numpy as jnp
import numpy as np

import gdjax
from gdjax import plot
from gdjax.training import datasets, models

STEPS = 300


def main(argv: list[str] | None = None) -> None:
    args = _figures.arguments(__doc__, argv)
    data = datasets.digits().train
    batch = {"x": jnp.asarray(data["x"]), "y": jnp.asarray(data["y"])}
    init = models.mlp_init(jax.random.key(0), (64, 32, 10))

    def loss(params):
        return jnp.mean(models.mlp_loss(params, batch))

    def train(optimizer):
        def step(carry, _):
            params, state = carry
            value, grads = jax.value_and_grad(loss)(params)
            updates, state = optimizer.update(grads, state, params)
            return (gdjax.apply_updates(params, updates), state), value

        (params, _), losses = jax.lax.scan(step, (init, optimizer.init(init)), None, STEPS)
        return params, losses

    # 1. The optimizer as an argument: one compile, any learning rate.
    traces = 0

    @jax.jit
    def final_loss(optimizer):
        nonlocal traces
        traces += 1
        return loss(train(optimizer)[0])

    for rate in (0.01, 0.03, 0.1):
        print(f"adam({rate}): final loss {float(final_loss(gdjax.adam(rate))):.4f}")
    print(f"compiled {traces} time for 3 learning rates")

    # 2. A stack of eight optimizers, one vmapped program.
    rates = np.logspace(-3, 0, 8 if not args.quick else 4)
    stack = jax.tree.map(lambda *v: jnp.stack(v), *(gdjax.adam(float(r)) for r in rates))
    print(f"the stack's leaves: {[np.shape(x) for x in jax.tree.leaves(stack)]}")
    params, losses = jax.jit(jax.vmap(train))(stack)
    alone = jax.jit(train)(gdjax.adam(float(rates[3])))[0]
    gap = max(
        float(jnp.max(jnp.abs(a - b[3])))
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(params), strict=True)
    )
    print(f"{'learning rate':>13}  {'final loss':>10}")
    for rate, curve in zip(rates, np.asarray(losses), strict=True):
        print(f"{rate:>13.4g}  {curve[-1]:>10.4f}")
    print(f"model 3 trained alone differs from the stack's by at most {gap:.1e}")

    # 3. Another rate by name, into the program compiled in 1.
    faster = gdjax.tree.set(gdjax.adam(0.01), learning_rate=0.02)
    print(
        f"tree.set(adam(0.01), learning_rate=0.02): final loss {float(final_loss(faster)):.4f}, "
        f"compiled {traces} time in all"
    )

    fig, ax = plot.subplots(figsize=(6, 4))
    ax.semilogx(rates, np.asarray(losses)[:, -1], "o-")
    ax.set_xlabel("Adam's learning rate")
    ax.set_ylabel(f"training loss after {STEPS} steps")
    ax.set_title("eight optimizers, one vmapped program (digits, MLP 64-32-10)", fontsize="medium")
    print(f"wrote {plot.save(fig, args.out / 'optimizer_pytrees.png')}")


if __name__ == "__main__":
    main()
