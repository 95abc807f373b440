"""The texts' experiments at tiny sizes: shapes, finite statistics, figures, the CLI."""

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from gdjax.cli import main
from gdjax.training import experiments, metrics

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    assert Path(path).read_bytes()[:8] == PNG_MAGIC


def assert_finite_comparison(comparison) -> None:
    for name in ("mean_a", "se_a", "mean_b", "se_b", "t", "t_pvalue", "u", "u_pvalue", "d"):
        assert math.isfinite(getattr(comparison, name)), name


# --------------------------------------------------------------------------- the experiments


@pytest.fixture(scope="module")
def momentum_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("momentum") / "fig11_8.png"
    return experiments.momentum(runs=2, steps=60, out=out, progress=False)


def test_momentum_shapes_scores_and_figure(momentum_result):
    r = momentum_result
    assert r.accuracy.shape == r.mcc.shape == (2, 2)
    assert r.confusion.shape == (2, 10, 10)
    assert r.history.train_loss.shape[:2] == (2, 2)
    assert (r.learning_rates, r.momenta, r.steps, r.dataset) == (
        (1.0, 0.2),
        (0.0, 0.9),
        60,
        "digits",
    )
    assert np.all((r.accuracy >= 0) & (r.accuracy <= 1)) and np.all(np.abs(r.mcc) <= 1)
    # Run 0's confusion matrix is the run scored: its trace over its total is its accuracy.
    trace = np.trace(r.confusion, axis1=1, axis2=2) / r.confusion.sum(axis=(1, 2))
    np.testing.assert_allclose(trace, r.accuracy[:, 0], rtol=1e-6)
    assert_finite_comparison(r.comparison)
    assert (r.comparison.name_a, r.comparison.name_b) == ("momentum", "no momentum")
    assert r.comparison.mean_a == pytest.approx(r.mcc[1].mean())
    assert r.seconds > 0
    assert_png(r.figure)
    text = r.report()
    assert text.count("accuracy = ") == 2 and text.count("MCC = ") == 2
    assert "t-test momentum vs no momentum (t, p)" in text and "Cohen's d" in text


def test_momentum_mcc_matches_the_metrics_on_run_0(momentum_result):
    # Recomputed from the confusion matrix with the metrics module's own MCC.
    r = momentum_result
    for i in (0, 1):
        labels = np.repeat(np.arange(10), r.confusion[i].sum(axis=1))
        predictions = np.concatenate(
            [np.repeat(np.arange(10), row) for row in r.confusion[i]]
        ).astype(np.int32)
        want = float(metrics.matthews_corrcoef(labels.astype(np.int32), predictions, 10))
        assert r.mcc[i, 0] == pytest.approx(want, abs=1e-6)


def test_optimizers_shapes_times_and_figure(tmp_path):
    r = experiments.optimizers(
        runs=2, epochs=1, names=("sgd", "adam"), out=tmp_path / "fig11_11.png", progress=False
    )
    assert r.names == ("sgd", "adam")
    assert r.learning_rates == (experiments.DIGITS_RATES["sgd"], experiments.DIGITS_RATES["adam"])
    assert r.accuracy.shape == (2, 2)
    assert r.mean.shape == r.se.shape == r.seconds.shape == (2,)
    assert np.all(np.isfinite(r.mean)) and np.all(np.isfinite(r.se)) and np.all(r.seconds > 0)
    np.testing.assert_allclose(r.seconds_per_run, r.seconds / 2)
    assert_png(r.figure)
    assert "SGD" in r.report() and "Adam" in r.report()


def test_sweep_grid_best_cell_and_heatmap(tmp_path):
    r = experiments.sweep(
        learning_rates=[0.1, 1.0],
        momenta=[0.0, 0.9],
        steps=40,
        out=tmp_path / "sweep.png",
        progress=False,
    )
    assert r.validation_loss.shape == r.accuracy.shape == (2, 2)
    assert np.all(np.isfinite(r.validation_loss))
    i, j = np.unravel_index(np.argmin(r.validation_loss), (2, 2))
    assert r.best["learning_rate"] == pytest.approx([0.1, 1.0][i])
    assert r.best["momentum"] == [0.0, 0.9][j]
    assert r.best["validation_loss"] == pytest.approx(r.validation_loss[i, j])
    assert r.result.final_value.shape == (2, 2, 1)
    np.testing.assert_allclose(r.result.scores("value"), r.validation_loss)
    assert np.asarray(r.result.grid["momentum"])[0, 1] == pytest.approx(0.9)
    assert_png(r.figure)


def test_noise_shapes_statistics_and_figure(tmp_path):
    r = experiments.noise(runs=2, steps=40, depth=3, out=tmp_path / "noise.png", progress=False)
    assert r.train_loss.shape == r.accuracy.shape == (2, 2)
    assert np.all(np.isfinite(r.train_loss))
    assert_finite_comparison(r.comparison)
    assert r.loss_comparison is not None
    assert_finite_comparison(r.loss_comparison)
    assert r.comparison.name_a == "noisy SGD"
    assert_png(r.figure)


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


def test_momentum_on_fashion_mnist_files_uses_the_196_input_network(tmp_path):
    data = fake_fashion_mnist(tmp_path)
    r = experiments.momentum(
        runs=2, steps=3, batch_size=4, dataset="fashion-mnist", data_dir=data, progress=False
    )
    assert r.accuracy.shape == (2, 2) and r.figure is None
    assert "MLP 196-100-50-10" in r.lines[0]


def test_optimizers_takes_fashion_mnist_as_28x28_images(tmp_path):
    split = experiments._cnn_split("fashion-mnist", fake_fashion_mnist(tmp_path))
    assert split.train["x"].shape == (8, 28, 28, 1) and split.test["x"].shape == (4, 28, 28, 1)


@pytest.mark.parametrize(
    ("function", "kwargs", "match"),
    [
        (experiments.momentum, {"runs": 1}, "runs must be an integer >= 2"),
        (experiments.momentum, {"steps": 0}, "steps must be an integer >= 1"),
        (
            experiments.momentum,
            {"dataset": "mnist"},
            "dataset must be one of digits, fashion-mnist",
        ),
        (experiments.momentum, {"dataset": "fashion-mnist"}, "needs data_dir"),
        (experiments.momentum, {"out": "figure.jpg"}, "out must end in .png"),
        (experiments.momentum, {"progress": 1}, "progress must be True or False"),
        (experiments.optimizers, {"epochs": 0}, "epochs must be an integer >= 1"),
        (experiments.optimizers, {"names": ("sgd", "lbfgs")}, "unknown optimizer 'lbfgs'"),
        (experiments.optimizers, {"names": ()}, "none given"),
        (experiments.optimizers, {"names": ("adam", "adam")}, "must not repeat"),
        (experiments.optimizers, {"learning_rates": {"adam": -1.0}}, r"learning_rates\['adam'\]"),
        (experiments.optimizers, {"learning_rates": {"lbfgs": 1.0}}, "learning_rates keys"),
        (experiments.sweep, {"learning_rates": [0.1, 0.0]}, "learning_rates must be"),
        (experiments.sweep, {"momenta": [0.5, 1.5]}, r"momenta must be .* in \[0, 1\]"),
        (experiments.sweep, {"momenta": []}, "momenta must be a non-empty"),
        (experiments.noise, {"eta": -0.1}, r"eta must be in \[0, inf\)"),
        (experiments.noise, {"learning_rate": 0.0}, r"learning_rate must be in \(0, inf\)"),
        (experiments.noise, {"depth": 0}, "depth must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_refused_by_name(function, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(**{"progress": False, **kwargs})


def test_missing_fashion_mnist_files_are_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        experiments.momentum(dataset="fashion-mnist", data_dir=tmp_path, progress=False)


# --------------------------------------------------------------------------- the CLI


def test_cli_momentum_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "tmp.png"
    code = main(["experiment", "momentum", "--runs", "2", "--steps", "200", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "t-test momentum vs no momentum (t, p)" in stdout
    assert "Mann-Whitney U (U, p)" in stdout and "Cohen's d" in stdout
    assert f"wrote {out}" in stdout
    assert_png(out)


def test_cli_no_plot_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["experiment", "sweep", "--steps", "20", "--learning-rates", "0.1,1"]
    code = main([*argv, "--momenta", "0", "--no-plot", "--no-progress"])
    assert code == 0
    assert "best: learning_rate=" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["experiment", "nope"], "invalid choice: 'nope'"),
        (["experiment"], "required"),
        (["experiment", "momentum", "--dataset", "nope"], "invalid choice: 'nope'"),
        (["experiment", "momentum", "--dataset", "fashion-mnist"], "needs --data-dir"),
        (["experiment", "momentum", "--runs", "0"], "runs must be an integer >= 2, got 0"),
        (["experiment", "momentum", "--runs", "two"], "invalid int value"),
        (["experiment", "momentum", "--out", "figure.svg"], "out must end in .png"),
        (["experiment", "optimizers", "--optimizers", "sgd,lbfgs"], "unknown optimizer 'lbfgs'"),
        (["experiment", "optimizers", "--optimizers", "sgd,sgd"], "must not repeat"),
        (["experiment", "optimizers", "--rate", "adam"], "write name=value"),
        (["experiment", "sweep", "--momenta", "0,x"], "--momenta: 'x' is not a number"),
        (["experiment", "noise", "--eta", "-1"], "eta must be in [0, inf)"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, expected, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdjax") and expected in lines[0]
    assert captured.out == ""


def test_cli_missing_fashion_mnist_directory_exits_2(tmp_path, capsys):
    argv = ["experiment", "momentum", "--dataset", "fashion-mnist", "--data-dir"]
    assert main([*argv, str(tmp_path / "nowhere"), "--no-plot"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "train-images-idx3-ubyte" in lines[0]


def test_top_level_help_names_the_experiment_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "experiment" in capsys.readouterr().out.split("\n\n")[0]
