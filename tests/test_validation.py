"""Bad input (DESIGN §6): every out-of-range hyperparameter gets a ValueError naming the
argument, the value and the allowed range, at the call that gave it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdjax

# (builder, argument, bad value, the range the message must state)
OUT_OF_RANGE = [
    (lambda v: gdjax.scale(v), "step_size", float("nan"), "(-inf, inf)"),
    (lambda v: gdjax.scale_by_learning_rate(v), "learning_rate", -0.1, "[0, inf)"),
    (lambda v: gdjax.scale_by_learning_rate({"a": 0.1, "b": v}), "learning_rate", -1.0, "[0, inf)"),
    (lambda v: gdjax.trace(v), "decay", 1.5, "[0, 1]"),
    (lambda v: gdjax.trace(v), "decay", -0.1, "[0, 1]"),
    (lambda v: gdjax.ema(v), "decay", 1.0, "[0, 1)"),
    (
        lambda v: gdjax.scale_by_adagrad(initial_accumulator_value=v),
        "initial_accumulator_value",
        -1.0,
        "[0, inf)",
    ),
    (lambda v: gdjax.scale_by_adagrad(eps=v), "eps", -1e-7, "[0, inf)"),
    (lambda v: gdjax.scale_by_rms(decay=v), "decay", 1.0, "[0, 1)"),
    (lambda v: gdjax.scale_by_rms(eps=v), "eps", -1.0, "[0, inf)"),
    (lambda v: gdjax.scale_by_rms(initial_scale=v), "initial_scale", -1.0, "[0, inf)"),
    (lambda v: gdjax.scale_by_adadelta(rho=v), "rho", 1.2, "[0, 1]"),
    (lambda v: gdjax.scale_by_adadelta(eps=v), "eps", -1.0, "[0, inf)"),
    (lambda v: gdjax.scale_by_adam(b1=v), "b1", 1.0, "[0, 1)"),
    (lambda v: gdjax.scale_by_adam(b2=v), "b2", -0.5, "[0, 1)"),
    (lambda v: gdjax.scale_by_adam(eps=v), "eps", -1e-8, "[0, inf)"),
    (lambda v: gdjax.scale_by_adam(eps_root=v), "eps_root", -1.0, "[0, inf)"),
    (lambda v: gdjax.scale_by_adamax(b1=v), "b1", 2.0, "[0, 1)"),
    (lambda v: gdjax.scale_by_adamax(b2=v), "b2", 1.0, "[0, 1)"),
    (lambda v: gdjax.scale_by_adamax(eps=v), "eps", -1.0, "[0, inf)"),
    (lambda v: gdjax.add_noise(eta=v), "eta", -0.01, "[0, inf)"),
    (lambda v: gdjax.add_noise(gamma=v), "gamma", -1.0, "[0, inf)"),
    (lambda v: gdjax.add_decayed_weights(v), "weight_decay", -1e-4, "[0, inf)"),
    (lambda v: gdjax.clip(v), "max_delta", -1.0, "[0, inf)"),
    (lambda v: gdjax.clip_by_global_norm(v), "max_norm", 0.0, "(0, inf)"),
    (lambda v: gdjax.reduce_on_plateau(factor=v), "factor", 1.0, "(0, 1)"),
    (lambda v: gdjax.reduce_on_plateau(rtol=v), "rtol", 2.0, "[0, 1]"),
    (lambda v: gdjax.reduce_on_plateau(atol=v), "atol", -1.0, "[0, inf)"),
    (lambda v: gdjax.reduce_on_plateau(min_scale=v), "min_scale", -1.0, "[0, inf)"),
    (lambda v: gdjax.sgd(v), "learning_rate", -0.01, "[0, inf)"),
    (lambda v: gdjax.sgd(0.1, momentum=v), "momentum", 1.01, "[0, 1]"),
    (lambda v: gdjax.adagrad(v), "learning_rate", float("inf"), "[0, inf)"),
    (lambda v: gdjax.rmsprop(0.1, decay=v), "decay", 1.0, "[0, 1)"),
    (lambda v: gdjax.rmsprop(0.1, momentum=v), "momentum", 2.0, "[0, 1]"),
    (lambda v: gdjax.adadelta(rho=v), "rho", -0.1, "[0, 1]"),
    (lambda v: gdjax.adadelta(weight_decay=v), "weight_decay", -1.0, "[0, inf)"),
    (lambda v: gdjax.adam(0.1, b1=v), "b1", 1.0, "[0, 1)"),
    (lambda v: gdjax.adamw(0.1, weight_decay=v), "weight_decay", -0.1, "[0, inf)"),
    (lambda v: gdjax.nadam(0.1, b2=v), "b2", 1.0, "[0, 1)"),
    (lambda v: gdjax.amsgrad(0.1, eps=v), "eps", -1.0, "[0, inf)"),
    (lambda v: gdjax.adamax(v), "learning_rate", -1.0, "[0, inf)"),
    (lambda v: gdjax.noisy_sgd(0.1, eta=v), "eta", -1.0, "[0, inf)"),
    (lambda v: gdjax.adam(jnp.array([0.1, v])), "learning_rate", -0.2, "[0, inf)"),
]


@pytest.mark.parametrize("build,argument,value,allowed", OUT_OF_RANGE)
def test_out_of_range_values_name_argument_value_and_range(build, argument, value, allowed):
    with pytest.raises(ValueError) as error:
        build(value)
    message = str(error.value)
    assert argument in message
    assert allowed in message
    assert repr(value) in message or str(value) in message


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: gdjax.reduce_on_plateau(patience=0), "patience must be an integer >= 1"),
        (lambda: gdjax.reduce_on_plateau(patience=2.5), "patience must be an integer >= 1"),
        (lambda: gdjax.reduce_on_plateau(cooldown=-1), "cooldown must be an integer >= 0"),
        (lambda: gdjax.apply_if_finite(gdjax.sgd(0.1), -1), "max_consecutive_errors"),
        (lambda: gdjax.scale_by_learning_rate(None), "learning_rate is required"),
        (lambda: gdjax.scale_by_schedule(0.1), "step_size_fn must be callable"),
        (lambda: gdjax.sgd(0.1, momentum=0.9, nesterov="yes"), "nesterov must be True or False"),
        (lambda: gdjax.rmsprop(0.1, eps_in_sqrt=None), "eps_in_sqrt must be True or False"),
        (lambda: gdjax.partition({}, {}), "at least one group"),
    ],
)
def test_other_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_traced_hyperparameters_are_not_checked_at_build_time():
    # Inside jit a hyperparameter is a tracer: building must not branch on its value.
    @jax.jit
    def build_and_step(lr, mu, b1):
        params = {"a": jnp.ones(2)}
        u1, _ = gdjax.sgd(lr, momentum=mu).update(params, gdjax.sgd(lr, momentum=mu).init(params))
        u2, _ = gdjax.adam(lr, b1=b1).update(params, gdjax.adam(lr, b1=b1).init(params))
        return u1["a"] + u2["a"]

    assert np.isfinite(np.asarray(build_and_step(0.1, 0.9, 0.5))).all()


def test_gradients_of_another_structure_than_the_state():
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    for tx in [gdjax.sgd(0.1, momentum=0.9), gdjax.adam(0.1), gdjax.rmsprop(0.1), gdjax.adadelta()]:
        state = tx.init(params)
        grads = {"w": jnp.ones(3), "bias": jnp.ones(2)}
        with pytest.raises(gdjax.StructureError) as error:
            tx.update(grads, state, params)
        message = str(error.value)
        assert "structure" in message
        assert str(jax.tree.structure(grads)) in message
        assert str(jax.tree.structure(params)) in message


def test_integer_params_are_refused():
    with pytest.raises(TypeError, match="floating-point params"):
        gdjax.adam(0.1).init({"steps": jnp.arange(3)})


# alias -> {argument: an out-of-range value}; every argument an alias checks when it is
# built (the dtypes and masks are checked by init, on the params).
BAD_ALIAS_ARGUMENTS = {
    "sgd": {"learning_rate": -0.1, "momentum": -0.2, "nesterov": "yes"},
    "adagrad": {
        "learning_rate": -0.1,
        "initial_accumulator_value": -1.0,
        "eps": -1e-7,
        "eps_in_sqrt": None,
    },
    "rmsprop": {
        "learning_rate": float("inf"),
        "decay": 1.0,
        "eps": -1e-8,
        "initial_scale": -0.5,
        "eps_in_sqrt": 1,
        "centered": "no",
        "momentum": 1.5,
        "nesterov": 0,
        "bias_correction": None,
    },
    "adadelta": {"learning_rate": -1.0, "rho": 1.2, "eps": -1e-6, "weight_decay": -0.01},
    "adam": {
        "learning_rate": -0.1,
        "b1": 1.0,
        "b2": -0.5,
        "eps": -1e-8,
        "eps_root": -1.0,
        "nesterov": "yes",
        "eps_convention": "tf",
    },
    "nadam": {
        "learning_rate": -0.1,
        "b1": 1.5,
        "b2": 1.0,
        "eps": -1.0,
        "eps_root": -1e-9,
        "nesterov": "yes",
        "eps_convention": "Keras",
        "momentum_decay": -0.004,
    },
    "amsgrad": {
        "learning_rate": -0.1,
        "b1": -0.1,
        "b2": 2.0,
        "eps": -1.0,
        "eps_root": -1.0,
        "eps_convention": None,
    },
    "adamw": {
        "learning_rate": -0.1,
        "b1": 1.0,
        "b2": 1.0,
        "eps": -1.0,
        "eps_root": -1.0,
        "weight_decay": -1e-4,
        "nesterov": "yes",
        "eps_convention": 1,
    },
    "adamax": {"learning_rate": -0.1, "b1": 1.0, "b2": -0.1, "eps": -1.0, "eps_convention": ""},
    "noisy_sgd": {"learning_rate": -0.1, "eta": -0.01, "gamma": -1.0, "key": 1.5},
}
CHECKED_AT_INIT = {"accumulator_dtype", "mu_dtype", "mask", "weight_decay_mask"}


def _alias_cases():
    for alias, arguments in BAD_ALIAS_ARGUMENTS.items():
        for argument, value in arguments.items():
            yield pytest.param(alias, argument, value, {}, id=f"{alias}-{argument}")
    # Nesterov's flag is checked with and without momentum; momentum above 1 too.
    yield pytest.param("sgd", "nesterov", "yes", {"momentum": 0.9}, id="sgd-nesterov-momentum")
    yield pytest.param("sgd", "momentum", 1.01, {"nesterov": True}, id="sgd-momentum-above")
    yield pytest.param("rmsprop", "nesterov", 1, {"momentum": 0.9}, id="rmsprop-nesterov-mom")


@pytest.mark.parametrize("alias,argument,value,others", list(_alias_cases()))
def test_alias_errors_name_the_alias_and_the_users_argument(alias, argument, value, others):
    # "sgd: momentum must be in [0, 1], got -0.2", not "trace: decay ...".
    arguments = {"learning_rate": 0.1, **others, argument: value}
    with pytest.raises(ValueError) as error:
        getattr(gdjax, alias)(**arguments)
    message = str(error.value)
    assert message.startswith(f"{alias}: {argument} "), message
    assert repr(value) in message, message


@pytest.mark.parametrize("alias", list(BAD_ALIAS_ARGUMENTS))
def test_every_argument_of_every_alias_is_covered(alias):
    import inspect

    arguments = set(inspect.signature(getattr(gdjax, alias)).parameters) - CHECKED_AT_INIT
    assert set(BAD_ALIAS_ARGUMENTS[alias]) == arguments


def test_transforms_built_outside_an_alias_keep_their_own_names():
    with pytest.raises(ValueError, match=r"^trace: decay must be in \[0, 1\], got -0.2"):
        gdjax.trace(-0.2)
    with pytest.raises(ValueError, match=r"^sgd: momentum "):
        gdjax.sgd(0.1, momentum=-0.2)
    with pytest.raises(ValueError, match=r"^trace: decay "):  # the alias's names do not linger
        gdjax.trace(-0.2)
    with pytest.raises(ValueError, match=r"^sgd: learning_rate "):
        gdjax.inject_hyperparams(gdjax.sgd)(learning_rate=-1.0, momentum=0.9)
