"""`gdjax experiment NAME`: the experiments from the command line (moved here with the
experiments; they test the CLI's rendering of `gdjax.experiments` and `gdjax.plot`)."""

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from gdjax.cli import main
from tests.experiments.helpers import assert_png


def test_cli_momentum_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "tmp.png"
    code = main(["experiment", "momentum", "--runs", "2", "--steps", "200", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "t-test momentum vs no momentum (t, p)" in stdout
    assert "Mann-Whitney U (U, p)" in stdout and "Cohen's d" in stdout
    assert f"wrote {out}" in stdout
    assert_png(out)


def test_cli_order_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "order.png"
    argv = ["experiment", "order", "--runs", "2", "--epochs", "1", "--width", "8"]
    code = main([*argv, "--depth", "1", "--out", str(out), "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "t-test shuffled vs sorted by class (t, p)" in stdout
    assert "ReLU MLP, 1 hidden layers of 8, 1 epochs" in stdout
    assert f"wrote {out}" in stdout
    assert_png(out)


def test_cli_early_stopping_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "es.png"
    argv = ["experiment", "early_stopping", "--runs", "2", "--epochs", "4", "--patience", "1"]
    code = main([*argv, "--width", "8", "--train-size", "50", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "early stopping replayed on each recorded validation curve: patience 1" in stdout
    assert "t-test early stopping vs last epoch (t, p)" in stdout
    assert f"wrote {out}" in stdout
    assert_png(out)


def test_cli_batchnorm_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "bn.png"
    argv = ["experiment", "batchnorm", "--runs", "2", "--steps", "20", "--learning-rates"]
    argv += ["0.5,5", "--scales", "0.5:2:log2", "--scale-rate", "0.5", "--threshold", "0.3"]
    code = main([*argv, "--out", str(out), "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "20 mini-batches of 64, 2 runs per grid point" in stdout
    assert "final training loss at lr 0.5, weights uniform in [-s, s]" in stdout
    assert "finite and < 0.3):" in stdout
    assert "t-test BN vs no BN (t, p)" in stdout
    assert f"wrote {out}" in stdout
    assert_png(out)


def test_experiment_help_lists_order_and_early_stopping(capsys):
    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    text = capsys.readouterr().out
    assert "order" in text and "early_stopping" in text and "§6.1" in text and "§6.3" in text
    assert "batchnorm" in text and "§6.2" in text


def test_cli_no_plot_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["experiment", "grid", "--steps", "20", "--learning-rates", "0.1,1"]
    code = main([*argv, "--momenta", "0", "--no-plot", "--no-progress"])
    assert code == 0
    assert "best on validation: learning_rate=" in capsys.readouterr().out
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
        (["experiment", "grid", "--momenta", "0,x"], "--momenta: 'x' is not a number"),
        (["experiment", "noise", "--eta", "-1"], "eta must be in [0, inf)"),
        (["experiment", "order", "--epochs", "0"], "epochs must be an integer >= 1, got 0"),
        (["experiment", "order", "--learning-rate", "x"], "invalid float value"),
        (["experiment", "early_stopping", "--patience", "0"], "patience must be an integer >= 1"),
        (["experiment", "early_stopping", "--train-size", "5000"], "train_size must be at most"),
        (["experiment", "batchnorm", "--scales", "0.5"], "scales must be at least two"),
        (["experiment", "batchnorm", "--learning-rates", "1,x"], "--learning-rates: 'x' is not"),
        (["experiment", "batchnorm", "--threshold", "0"], "threshold must be in (0, inf)"),
        (["experiment", "batchnorm", "--dataset", "fashion-mnist"], "needs --data-dir"),
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


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], None),
        (["--dataset", "digits"], ("digits", None)),
        (["--dataset", "fashion-mnist", "--data-dir", "d"], ("fashion-mnist", "d")),
        (["--data-dir", "d"], ("digits", "d")),  # digits ignores the directory
    ],
)
@pytest.mark.parametrize("name", ["momentum", "optimizers", "grid", "batchnorm"])
def test_dataset_options_reach_the_experiment_as_one_dataset(name, options, expected):
    from gdjax.cli.experiment import arguments
    from gdjax.cli.parsing import build_parser
    from gdjax.experiments import Dataset

    kwargs = arguments(build_parser().parse_args(["experiment", name, *options]))
    assert "dataset" not in kwargs and "data_dir" not in kwargs
    if expected is None:
        assert "data" not in kwargs  # the function's default
    else:
        assert kwargs["data"] == Dataset(*expected) and type(kwargs["data"]) is Dataset
