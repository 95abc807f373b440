"""fit's and fit_many's options: each refused by name, as the user wrote it."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdjax
from gdjax.training import (
    Batching,
    Checkpointing,
    EarlyStopping,
    Evaluation,
    fit,
    fit_many,
)
from gdjax.training.options import Options, checked

DATA = {"x": np.ones((8, 2), np.float32), "y": np.zeros(8, np.float32)}


def loss(params, batch):
    return (batch["x"] @ params["w"] - batch["y"]) ** 2


def fit_with(**options):
    return fit(loss, {"w": jnp.zeros(2)}, gdjax.sgd(0.1), DATA, **{"epochs": 1, **options})


def test_the_defaults():
    assert Batching() == (None, True, None, False)
    assert Evaluation(DATA) == (DATA, None)
    assert Checkpointing("runs/a") == ("runs/a", 1, False)
    assert EarlyStopping() == (5, 0.0, "validation")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"batching": 64}, "fit: batching must be a gdjax.training.Batching, got 64"),
        ({"batching": None}, "fit: batching must be a gdjax.training.Batching, got None"),
        ({"batching": Batching(0)}, "fit: batching.batch_size must be an integer >= 1, got 0"),
        ({"batching": Batching(2.5)}, "fit: batching.batch_size must be an integer >= 1"),
        ({"batching": Batching(9)}, "fit: batching.batch_size 9 is larger than the 8 examples"),
        ({"batching": Batching(shuffle=1)}, "fit: batching.shuffle must be True or False"),
        ({"batching": Batching(drop_last="no")}, "fit: batching.drop_last must be True or False"),
        (
            {"batching": Batching(order=np.arange(7))},
            r"fit: batching.order must be a 1-D \(8,\) or 2-D \(epochs, 8\) integer array "
            r"whose every row holds distinct example indices in \[0, 8\), -1 in a slot left "
            r"out, and at least 1 example; got \[0, 1, 2, 3, 4, 5, 6\]: its shape is \(7,\)",
        ),
        ({"batching": Batching(order=np.arange(1, 9))}, "fit: batching.order .*: it holds 8"),
        ({"batching": Batching(order=np.arange(8.0))}, "fit: batching.order .*dtype is float64"),
        (
            {"batching": Batching(order=np.zeros(8, int))},
            "fit: batching.order .*: it repeats example 0",
        ),
        (
            {"batching": Batching(order=-np.ones((2, 8), int))},
            r"fit: batching.order .*shape \(2, 8\) .*: row 0 holds 0 examples",
        ),
        (
            {"evaluation": DATA},
            "fit: evaluation must be a gdjax.training.Evaluation or None, got {",
        ),
        ({"evaluation": Evaluation(None)}, "fit: evaluation.data: a dataset's leaves must share"),
        (
            {"evaluation": Evaluation(DATA, metric="accuracy")},
            "fit: evaluation.metric must be a function",
        ),
        (
            {"early_stopping": 5},
            "fit: early_stopping must be a gdjax.training.EarlyStopping or None, got 5",
        ),
        ({"early_stopping": EarlyStopping()}, "fit: early stopping on the validation loss needs"),
        (
            {"early_stopping": EarlyStopping(patience=0, monitor="train")},
            "fit: early_stopping.patience must be an integer >= 1",
        ),
        (
            {"early_stopping": EarlyStopping(min_delta=-1.0, monitor="train")},
            r"fit: early_stopping.min_delta must be in \[0, inf\)",
        ),
        (
            {"early_stopping": EarlyStopping(monitor="loss")},
            "fit: early_stopping.monitor must be 'validation' or 'train', got 'loss'",
        ),
        (
            {"checkpointing": "runs/a"},
            "fit: checkpointing must be a gdjax.training.Checkpointing or None, got 'runs/a'",
        ),
        ({"checkpointing": Checkpointing(3)}, "fit: checkpointing.directory must be a path"),
        ({"checkpointing": Checkpointing("a", every=0)}, "fit: checkpointing.every must be"),
        ({"checkpointing": Checkpointing("a", resume=1)}, "fit: checkpointing.resume must be"),
        ({"progress": 1}, "fit: progress must be True or False"),
        ({"steps": 3}, "fit: give exactly one of epochs= and steps="),
        ({"epochs": None}, "fit: give exactly one of epochs= and steps="),
        ({"epochs": 0}, "fit: epochs must be an integer >= 1, got 0"),
        ({"epochs": None, "steps": -1}, "fit: steps must be an integer >= 1, got -1"),
        ({"train": {"x": np.ones(3), "y": np.ones(4)}}, r"fit: train: a dataset's leaves"),
        ({"parallel": "data"}, "fit: parallel must be a gdjax.distributed.DataParallel"),
    ],
)
def test_a_bad_option_is_refused_by_name(options, message):
    train = options.pop("train", DATA)
    with pytest.raises(ValueError, match=message):
        fit(loss, {"w": jnp.zeros(2)}, gdjax.sgd(0.1), train, **{"epochs": 1, **options})


def test_fit_many_names_itself():
    with pytest.raises(ValueError, match="fit_many: batching.batch_size must be an integer"):
        fit_many(
            loss,
            {"w": jnp.zeros(2)},
            lambda: gdjax.sgd(0.1),
            DATA,
            seeds=1,
            epochs=1,
            batching=Batching(-2),
            progress=False,
        )
    with pytest.raises(ValueError, match="fit_many: give exactly one of epochs= and steps="):
        fit_many(loss, {"w": jnp.zeros(2)}, lambda: gdjax.sgd(0.1), DATA, seeds=1)


def test_checked_options_and_their_plan():
    options = Options(
        None, 11, Batching(3.0, order=[7, 6, 5, 4, 3, 2, 1, 0]), None, None, None, False
    )
    options, plan = checked(options, DATA, "fit")
    assert type(options.batching.batch_size) is int and options.batching.batch_size == 3
    assert isinstance(options.batching.order, np.ndarray)
    assert plan == (8, 3, (3, 3, 3, 2))  # 8 examples, 3 batches an epoch, 11 steps


def test_the_options_are_plain_values():
    # NamedTuples: built once and shared, changed with _replace.
    batching = Batching(4)
    _, history = fit_with(batching=batching, progress=False)
    assert history.step_loss.shape == (2,)
    _, history = fit_with(batching=batching._replace(batch_size=8), progress=False)
    assert history.step_loss.shape == (1,)
