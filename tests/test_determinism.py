"""The same key gives the same bits, run to run and process to process, on CPU."""

import hashlib
import subprocess
import sys

import jax
import numpy as np

SCRIPT = """
import hashlib
import jax, jax.numpy as jnp, numpy as np
import gdjax
from gdjax import landscapes, trajectories
from gdjax.training import Batching, datasets, fit, fit_many, models

def digest(tree):
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        h.update(np.asarray(leaf).tobytes())
    return h.hexdigest()

data = datasets.digits()
small = {"x": data.train["x"][:256], "y": data.train["y"][:256]}
params = models.mlp_init(jax.random.key(0), sizes=(64, 16, 10))
noisy = gdjax.chain(gdjax.add_noise(0.01, key=4), gdjax.adam(0.01))
trained, history = fit(models.mlp_loss, params, noisy, small, epochs=3,
                       batching=Batching(32), key=7, progress=False)
many, _ = fit_many(models.mlp_loss, lambda k: models.mlp_init(k, sizes=(64, 16, 10)),
                   lambda learning_rate: gdjax.sgd(learning_rate, momentum=0.9), small,
                   seeds=2, settings={"learning_rate": [0.1, 0.3]}, epochs=2,
                   batching=Batching(32), progress=False)
starts = jax.random.uniform(jax.random.key(1), (64, 2), minval=-2, maxval=2)
paths = trajectories.run(gdjax.noisy_sgd(0.05, eta=0.1, key=9),
                         landscapes.get("two_gaussians").fn, starts, 100)
print(digest((trained, history.step_loss)), digest(many), digest(paths.positions))
"""


def _digests() -> str:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_two_processes_with_the_same_keys_agree_bit_for_bit():
    first, second = _digests(), _digests()
    assert len(first.split()) == 3
    assert first == second


def test_different_keys_give_different_noise():
    import gdjax

    params = {"w": jax.numpy.zeros(8)}
    grads = {"w": jax.numpy.ones(8)}

    def noise(key):
        transform = gdjax.add_noise(0.1, key=key)
        updates, _ = transform.update(grads, transform.init(params))
        return hashlib.sha256(np.asarray(updates["w"]).tobytes()).hexdigest()

    assert noise(1) == noise(1)
    assert noise(1) != noise(2)
