"""Data sets of the texts: scikit-learn's digits, MNIST / Fashion-MNIST from IDX files, seed
004's sparse-feature toy.

Nothing here downloads anything. `digits` uses the copy that ships with
scikit-learn; `mnist` and `fashion_mnist` read the four IDX files their
publishers distribute from a directory you give; `sparse_features` is
generated.

A classification data set is a `Split` of two dicts ``{"x": float32 features,
"y": int32 labels}``, the form `gdjax.training.fit` takes.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

Data = dict[str, np.ndarray]


class Split(NamedTuple):
    """A training set and a test set, each ``{"x": float32 array, "y": int32 labels}``."""

    train: Data
    test: Data


# --------------------------------------------------------------------------- digits


def _check_fraction(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{owner}: {name} must be in (0, 1), got {value!r}")


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with every class split in the same proportion.

    Each class, in increasing label order, is shuffled with one NumPy generator
    seeded by ``seed`` and ``round(test_fraction * count)`` of its examples go to
    the test set. Only NumPy's ``default_rng`` decides, so the split is the same
    for every scikit-learn version. Indices come back sorted (the original
    order); training shuffles every epoch anyway.

    Args:
      labels: ``(n,)`` class labels.
      test_fraction: share of each class in the test set, in (0, 1).
      seed: the generator's seed.

    Returns:
      ``(train_indices, test_indices)``, int64 arrays that partition ``range(n)``.
    """
    _check_fraction("stratified_split", "test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = round(test_fraction * members.size)
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def digits(test_fraction: float = 0.25, seed: int = 0, images: bool = False) -> Split:
    """scikit-learn's 8×8 handwritten digits (1797 images, classes 0-9), split train/test.

    The data ship with scikit-learn (``sklearn.datasets.load_digits``): nothing
    is downloaded. A small stand-in for MNIST that trains in seconds, e.g. with
    `gdjax.training.models.mlp_init` and sizes ``(64, 100, 50, 10)``.

    Pixel values 0..16 are scaled to [0, 1] (divided by 16). The split is
    stratified and deterministic (`stratified_split`).

    Args:
      test_fraction: share of each class held out for testing, in (0, 1). Default 0.25.
      seed: seed of the split. Default 0.
      images: ``x`` as ``(n, 8, 8, 1)`` images (for a CNN) instead of ``(n, 64)``
        vectors. Default False.

    Returns:
      `Split` of ``{"x": float32, "y": int32}`` dicts.

    Raises:
      ImportError: scikit-learn is not installed.
    """
    _check_fraction("digits", "test_fraction", test_fraction)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "gdjax.training.datasets.digits needs scikit-learn: pip install 'gdjax[train]'"
        ) from err
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    if images:
        x = x.reshape(-1, 8, 8, 1)
    train, test = stratified_split(y, test_fraction, seed)
    return Split({"x": x[train], "y": y[train]}, {"x": x[test], "y": y[test]})


# --------------------------------------------------------------------------- IDX files

# Type code -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if they start with gzip's magic (whatever the name)."""
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist (or is not a file)")
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"IDX file {str(path)!r}: truncated or corrupt gzip data ({err})") from err


def _expected_magic() -> str:
    codes = ", ".join(f"0x{code:02X}" for code in IDX_TYPES)
    return f"0x0000TTDD (two zero bytes, a type code TT in {{{codes}}}, the number of dims DD)"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file, the format of MNIST and Fashion-MNIST, plain or gzipped.

    The format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number, two
    zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions;
    then each dimension as a big-endian uint32; then the data, big-endian, in
    C (row-major) order. A gzipped file is recognised by its first two bytes
    (0x1f 0x8b), not by its name.

    Args:
      path: the file.

    Returns:
      The array, in the native byte order of its type, shaped as the header says.

    Raises:
      FileNotFoundError: no such file.
      ValueError: an empty file, a bad magic number or type code, a truncated
        header, or a data section shorter or longer than the header promises.
        Every message names the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    where = f"IDX file {str(path)!r}"
    if not data:
        raise ValueError(f"{where} is empty")
    if len(data) < 4:
        raise ValueError(f"{where} is truncated: {len(data)} bytes, shorter than the 4-byte magic")
    magic = int.from_bytes(data[:4], "big")
    dtype = IDX_TYPES.get(data[2])
    if data[:2] != b"\0\0" or dtype is None:
        raise ValueError(
            f"{where} is not an IDX file: magic 0x{magic:08X}, expected {_expected_magic()}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{where} is truncated: its {ndim} dimensions need a {header}-byte header, "
            f"only {len(data)} bytes present"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    present = len(data) - header
    if present != expected:
        problem = "truncated" if present < expected else "longer than its header says"
        raise ValueError(
            f"{where} is {problem}: header shape {shape} of {dtype.name} promises {expected} "
            f"data bytes, {present} present"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native-order, writable copy


# --------------------------------------------------------------------------- MNIST, Fashion-MNIST

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four files of MNIST and Fashion-MNIST (each may also end in ``.gz``)."""

MNIST_URL = "http://yann.lecun.com/exdb/mnist/ (or a mirror, e.g. https://ossci-datasets.s3.amazonaws.com/mnist/)"
FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist"


def _find_files(data_dir: str | os.PathLike, name: str, url: str) -> dict[str, Path]:
    """The path of each of the four files (plain preferred over ``.gz``), or one error listing
    every missing name and where to get them."""
    directory = Path(data_dir)
    found, missing = {}, []
    for key, stem in IDX_FILES.items():
        candidates = [directory / stem, directory / f"{stem}.gz"]
        present = [path for path in candidates if path.is_file()]
        if present:
            found[key] = present[0]
        else:
            missing.append(stem)
    if missing:
        state = "" if directory.is_dir() else " (the directory does not exist)"
        raise FileNotFoundError(
            f"{name}: {str(directory)!r}{state} lacks {', '.join(missing)} (each may end in .gz). "
            f"{name} needs the four IDX files {', '.join(IDX_FILES.values())}; get them from "
            f"{url} and pass their directory. gdjax never downloads."
        )
    return found


def _images(path: Path) -> np.ndarray:
    images = read_idx(path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"IDX file {str(path)!r}: expected (n, 28, 28) uint8 images, got {images.shape} "
            f"{images.dtype}"
        )
    return images


def _labels(path: Path, count: int) -> np.ndarray:
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"IDX file {str(path)!r}: expected (n,) uint8 labels, got {labels.shape} {labels.dtype}"
        )
    if labels.size != count:
        raise ValueError(
            f"IDX file {str(path)!r}: {labels.size} labels for {count} images in the images file"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"IDX file {str(path)!r}: labels must be classes 0-9, found {int(labels.max())}"
        )
    return labels


def shrink(images: np.ndarray) -> np.ndarray:
    """Halves each side by averaging 2×2 blocks: ``(n, 28, 28)`` → ``(n, 14, 14)``.

        out[i, r, c] = (im[i, 2r, 2c] + im[i, 2r, 2c+1] + im[i, 2r+1, 2c] + im[i, 2r+1, 2c+1]) / 4

    Seed 001 shrinks its images with OpenCV's bilinear ``resize`` to 14×14,
    which at exactly half size averages the same 2×2 blocks, but then rounds
    them to integers (its output is uint8); these are the exact means.

    Args:
      images: ``(n, h, w)`` with even ``h`` and ``w``.

    Returns:
      ``(n, h/2, w/2)`` float32.
    """
    n, h, w = images.shape
    # Sum in uint16 (4 × 255 fits) to keep 60,000 images' temporaries small.
    blocks = images.reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4), dtype=np.uint16)
    return blocks.astype(np.float32) / 4


def _idx_split(data_dir: str | os.PathLike, downsample: bool, name: str, url: str) -> Split:
    if not isinstance(downsample, bool):
        raise ValueError(f"{name}: downsample must be True or False, got {downsample!r}")
    paths = _find_files(data_dir, name, url)
    parts = []
    for part in ("train", "test"):
        images = _images(paths[f"{part}_images"])
        labels = _labels(paths[f"{part}_labels"], len(images))
        pixels = shrink(images) if downsample else images.astype(np.float32)
        x = (pixels / 255).reshape(len(images), -1).astype(np.float32)
        parts.append({"x": x, "y": labels.astype(np.int32)})
    return Split(*parts)


def fashion_mnist(data_dir: str | os.PathLike, downsample: bool = True) -> Split:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its four IDX files, as seed 001 uses it.

    70,000 28×28 grey images of 10 kinds of clothing (60,000 train, 10,000
    test), a harder drop-in for MNIST. gdjax never downloads: get
    ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` from
    https://github.com/zalandoresearch/fashion-mnist into ``data_dir`` (gzipped
    or not).

    With ``downsample`` (the default) each image is shrunk to 14×14 by 2×2 mean
    pooling (`shrink`), as the book does, and the MLP's input has 196 features.

    Args:
      data_dir: directory holding the four files.
      downsample: 14×14 (196 features) instead of 28×28 (784). Default True.

    Returns:
      `Split` with ``x`` float32 in [0, 1], shape ``(n, 196)`` or ``(n, 784)``,
      and ``y`` int32 classes 0-9.

    Raises:
      FileNotFoundError: a file is missing; the message lists the expected names.
      ValueError: a file is not IDX, is truncated, or holds other shapes or types
        than 28×28 uint8 images and their 0-9 uint8 labels (the message names it).
    """
    return _idx_split(data_dir, downsample, "fashion_mnist", FASHION_MNIST_URL)


def mnist(data_dir: str | os.PathLike, downsample: bool = True) -> Split:
    """MNIST (LeCun et al. 1998) from its four IDX files; see `fashion_mnist`.

    gdjax never downloads: put ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (``.gz`` or not)
    from http://yann.lecun.com/exdb/mnist/ or a mirror into ``data_dir``.

    Args:
      data_dir: directory holding the four files.
      downsample: 14×14 (196 features, seed 001's MNIST network) instead of
        28×28 (784). Default True.

    Returns:
      `Split` with ``x`` float32 in [0, 1] and ``y`` int32 digits 0-9.
    """
    return _idx_split(data_dir, downsample, "mnist", MNIST_URL)


# --------------------------------------------------------------------------- seed 004's toy


def sparse_features(
    n: int = 100, zero_fraction: float = 0.8, seed: int = 0, w: float = 2.0, b: float = -1.0
) -> Data:
    """Seed 004's toy for one sigmoid neuron ``y = σ(w x + b)`` whose input is mostly zero.

    The blog creates 100 random ``(x, y)`` pairs and sets ``x = 0`` for about 80%
    of them, so that the weight ``w`` sees few gradients and AdaGrad's
    per-parameter rates can help. Here:

        x_i ~ Uniform[0.5, 2.5], then x_i = 0 for exactly round(zero_fraction n) of them
        y_i = 1 / (1 + exp(-(w x_i + b)))

    (NumPy ``default_rng(seed)``; the zeros are chosen by a permutation). The
    labels are noise-free, so ``(w, b)`` is the exact minimum of the squared
    error, with loss 0.

    Args:
      n: number of points, >= 1. Default 100.
      zero_fraction: share of the inputs set to 0, in [0, 1]. Default 0.8.
      seed: NumPy seed. Default 0.
      w: the true weight. Default 2.0.
      b: the true bias. Default -1.0.

    Returns:
      ``{"x": (n,) float32, "y": (n,) float32}``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"sparse_features: n must be an integer >= 1, got {n!r}")
    if not 0 <= zero_fraction <= 1:
        raise ValueError(f"sparse_features: zero_fraction must be in [0, 1], got {zero_fraction!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 2.5, n)
    x[rng.permutation(n)[: round(zero_fraction * n)]] = 0.0
    # float64 first, then float32: the values examples/sparse_features.py has always drawn.
    y = 1 / (1 + np.exp(-(w * x + b)))
    return {"x": x.astype(np.float32), "y": y.astype(np.float32)}
