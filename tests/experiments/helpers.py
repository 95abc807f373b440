"""What the experiments' tests share: PNG and statistics checks, stand-in Fashion-MNIST files."""

import gzip
import math
from pathlib import Path

import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    assert Path(path).read_bytes()[:8] == PNG_MAGIC


def draw(figure_fn, result, path: Path) -> Path:
    """Draws ``figure_fn(result)`` and writes it to ``path``; returns the path."""
    from gdjax import plot

    return plot.save(figure_fn(result), path)


def assert_finite_comparison(comparison) -> None:
    for name in ("mean_a", "se_a", "mean_b", "se_b", "t", "t_pvalue", "u", "u_pvalue", "d"):
        assert math.isfinite(getattr(comparison, name)), name


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def fake_fashion_mnist(directory: Path, n_train: int = 8, n_test: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for name, shape in (
        ("train-images-idx3-ubyte.gz", (n_train, 28, 28)),
        ("t10k-images-idx3-ubyte.gz", (n_test, 28, 28)),
    ):
        write_idx(directory / name, rng.integers(0, 256, shape, dtype=np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.arange(n_test) % 10)
    return directory
