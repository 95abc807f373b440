import gzip
from pathlib import Path

import numpy as np
import pytest

from gdjax.training import datasets

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C}
TYPE_CODES |= {np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding, written here by hand (independently of the reader under test)."""
    code = TYPE_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --------------------------------------------------------------------------- digits


def test_digits_shapes_ranges_and_types():
    split = datasets.digits()
    n_train, n_test = len(split.train["y"]), len(split.test["y"])
    assert n_train + n_test == 1797
    assert n_test == pytest.approx(0.25 * 1797, abs=10)
    for part in split:
        assert part["x"].dtype == np.float32 and part["y"].dtype == np.int32
        assert part["x"].shape == (len(part["y"]), 64)
        assert part["x"].min() == 0.0 and part["x"].max() == 1.0
    images = datasets.digits(images=True)
    assert images.train["x"].shape == (n_train, 8, 8, 1)
    np.testing.assert_array_equal(images.train["x"].reshape(n_train, 64), split.train["x"])


def test_digits_split_is_stratified_disjoint_and_deterministic():
    split = datasets.digits(test_fraction=0.2, seed=3)
    train_counts = np.bincount(split.train["y"], minlength=10)
    test_counts = np.bincount(split.test["y"], minlength=10)
    np.testing.assert_array_equal(test_counts, np.round(0.2 * (train_counts + test_counts)))
    again = datasets.digits(test_fraction=0.2, seed=3)
    for a, b in zip(split, again, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
    other = datasets.digits(test_fraction=0.2, seed=4)
    assert not np.array_equal(split.test["x"], other.test["x"])
    # No test image also sits in the training set (rows compared as bytes).
    train_rows = {row.tobytes() for row in split.train["x"]}
    overlap = sum(row.tobytes() in train_rows for row in split.test["x"])
    assert overlap <= 5  # digits has a handful of exact duplicate images, no more


def test_stratified_split_partitions_the_indices():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    train, test = datasets.stratified_split(labels, 0.3, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(60))
    np.testing.assert_array_equal(np.bincount(labels[test]), [3, 6, 9])


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "0.2"])
def test_digits_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="test_fraction must be in"):
        datasets.digits(test_fraction=fraction)


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = rng.integers(info.min, info.max, (3, 4, 5), endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
    # A misleading name: gzip is recognised by its magic bytes, not by ".gz".
    path = write_idx(tmp_path / "data.idx", array, compress)
    got = datasets.read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    got[0, 0, 0] = 0  # a writable copy


def test_read_idx_one_dimensional(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    path = write_idx(tmp_path / "labels.gz", labels, compress=True)
    np.testing.assert_array_equal(datasets.read_idx(str(path)), labels)


def test_read_idx_missing_file(tmp_path):
    missing = tmp_path / "nothing-here-idx3-ubyte"
    with pytest.raises(FileNotFoundError, match="nothing-here-idx3-ubyte"):
        datasets.read_idx(missing)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_truncated_and_overlong(tmp_path, compress):
    data = idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 12))  # 12-byte header + 48
    short = tmp_path / "short.idx"
    short.write_bytes(gzip.compress(data[:-3]) if compress else data[:-3])
    with pytest.raises(ValueError, match="short.idx") as info:
        datasets.read_idx(short)
    message = str(info.value)
    assert "truncated" in message and "promises 48 data bytes, 45 present" in message
    long = tmp_path / "long.idx"
    long.write_bytes(gzip.compress(data + b"\0") if compress else data + b"\0")
    with pytest.raises(ValueError, match="long.idx") as info:
        datasets.read_idx(long)
    message = str(info.value)
    assert "longer than its header says" in message and "49 present" in message


def test_read_idx_truncated_header_and_gzip_stream(tmp_path):
    data = idx_bytes(np.zeros((2, 3, 4), np.uint8))
    header = tmp_path / "header.idx"
    header.write_bytes(data[:9])  # 3 dims need 16 header bytes
    with pytest.raises(ValueError, match=r"header.idx.*16-byte header, only 9 bytes"):
        datasets.read_idx(header)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(data)[:-10])
    with pytest.raises(ValueError, match=r"cut.gz.*truncated or corrupt gzip"):
        datasets.read_idx(cut)


def test_read_idx_empty_and_bad_magic(tmp_path):
    empty = tmp_path / "empty.idx"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.idx' is empty"):
        datasets.read_idx(empty)
    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello world")
    with pytest.raises(ValueError, match=r"notes.txt.*magic 0x68656C6C, expected 0x0000TTDD"):
        datasets.read_idx(text)
    bad_type = tmp_path / "bad_type.idx"
    bad_type.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"bad_type.idx.*magic 0x00000A01"):
        datasets.read_idx(bad_type)


# --------------------------------------------------------------------------- (Fashion-)MNIST


def write_mnist_dir(directory: Path, n_train=5, n_test=3, compress=True, **replace) -> dict:
    """Four tiny IDX files in the (Fashion-)MNIST layout; ``replace`` swaps an array."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays |= replace
    directory.mkdir(exist_ok=True)
    for name, array in arrays.items():
        write_idx(directory / (name + ".gz" if compress else name), array, compress)
    return arrays


def test_fashion_mnist_downsamples_by_2x2_means(tmp_path):
    arrays = write_mnist_dir(tmp_path)
    split = datasets.fashion_mnist(tmp_path)
    images = arrays["train-images-idx3-ubyte"].astype(np.float64)
    assert split.train["x"].shape == (5, 196) and split.test["x"].shape == (3, 196)
    assert split.train["x"].dtype == np.float32 and split.train["y"].dtype == np.int32
    want = np.empty((5, 14, 14))
    for i in range(5):
        for r in range(14):
            for c in range(14):
                block = images[i, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2]
                want[i, r, c] = block.sum() / 4 / 255
    np.testing.assert_allclose(split.train["x"], want.reshape(5, 196), rtol=1e-6)
    np.testing.assert_array_equal(split.train["y"], arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(split.test["y"], arrays["t10k-labels-idx1-ubyte"])
    assert 0 <= split.test["x"].min() and split.test["x"].max() <= 1


def test_full_size_and_plain_files(tmp_path):
    arrays = write_mnist_dir(tmp_path, compress=False)
    split = datasets.mnist(tmp_path, downsample=False)
    assert split.test["x"].shape == (3, 784)
    want = arrays["t10k-images-idx3-ubyte"].reshape(3, 784) / 255
    np.testing.assert_allclose(split.test["x"], want, rtol=1e-6)


def test_missing_files_list_the_expected_names(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.fashion_mnist(tmp_path / "absent")
    message = str(info.value)
    assert "does not exist" in message and "gdjax never downloads" in message
    assert "https://github.com/zalandoresearch/fashion-mnist" in message
    for name in datasets.IDX_FILES.values():
        assert name in message
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte "):
        datasets.mnist(tmp_path)


@pytest.mark.parametrize(
    "replace,file,message",
    [
        (
            {"train-images-idx3-ubyte": np.zeros((5, 14, 14), np.uint8)},
            "train-images-idx3-ubyte.gz",
            r"expected \(n, 28, 28\) uint8 images, got \(5, 14, 14\)",
        ),
        (
            {"t10k-images-idx3-ubyte": np.zeros((3, 28, 28), np.float32)},
            "t10k-images-idx3-ubyte.gz",
            "float32",
        ),
        (
            {"train-labels-idx1-ubyte": np.zeros(4, np.uint8)},
            "train-labels-idx1-ubyte.gz",
            "4 labels for 5 images",
        ),
        (
            {"t10k-labels-idx1-ubyte": np.array([1, 10, 2], np.uint8)},
            "t10k-labels-idx1-ubyte.gz",
            "classes 0-9, found 10",
        ),
    ],
)
def test_wrong_contents_name_the_file(tmp_path, replace, file, message):
    write_mnist_dir(tmp_path, **replace)
    with pytest.raises(ValueError, match=message) as info:
        datasets.fashion_mnist(tmp_path)
    assert file in str(info.value)


# --------------------------------------------------------------------------- sparse features


def test_sparse_features_zero_fraction_range_and_targets():
    data = datasets.sparse_features()
    x, y = data["x"], data["y"]
    assert x.shape == y.shape == (100,) and x.dtype == y.dtype == np.float32
    assert np.sum(x == 0) == 80
    nonzero = x[x != 0]
    assert nonzero.min() >= 0.5 and nonzero.max() <= 2.5
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-(2.0 * x - 1.0))), rtol=1e-6)
    assert np.sum(datasets.sparse_features(n=37, zero_fraction=0.5)["x"] == 0) == 18  # round


def test_sparse_features_is_deterministic_and_seeded():
    a, b = datasets.sparse_features(seed=7), datasets.sparse_features(seed=7)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], datasets.sparse_features(seed=8)["x"])


def test_sparse_features_is_the_examples_historic_data():
    # The values examples/sparse_features.py drew inline before (its figures depend on them).
    x = datasets.sparse_features()["x"]
    nonzero = [9, 11, 14, 15, 19, 23, 24, 27, 28, 35, 42, 43, 44, 51, 77, 80, 81, 88, 89, 97]
    np.testing.assert_array_equal(np.flatnonzero(x), nonzero)
    np.testing.assert_allclose(x[nonzero[:4]], [2.3701448, 0.5054770, 1.9593109, 0.8513113])


def test_sparse_features_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        datasets.sparse_features(n=0)
    with pytest.raises(ValueError, match="zero_fraction"):
        datasets.sparse_features(zero_fraction=1.2)
