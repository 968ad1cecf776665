"""Tests for `labkit.weightnorm` on the active Keras backend.

`tests/integration/test_backends.py` runs this module again under `KERAS_BACKEND=jax` and `torch`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import keras
import numpy as np
import pytest
from keras import layers, ops

from labkit._keras_compat import flatten_layers
from labkit.weightnorm import WeightNormalization, data_init, remove_weight_norm

BACKEND = keras.backend.backend()
# Automatic data-dependent init inside `fit` (on JAX it needs an explicit `data_init`).
IN_FIT_INIT = BACKEND in ("tensorflow", "torch")
TRANSPOSE_LAYERS = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)

pytestmark = [
    pytest.mark.usefixtures("seeded"),
    # Keras' TensorFlow backend converts variables with a NumPy-1-style `__array__`.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]
requires_tensorflow = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow-only feature")

# name -> (layer factory, input shape without the batch axis). Input channels differ from
# the number of output channels so that a wrong normalization axis cannot go unnoticed.
LAYER_CASES: dict[str, tuple[Callable[[], layers.Layer], tuple[int, ...]]] = {
    "dense_tanh": (lambda: layers.Dense(5, activation="tanh"), (7,)),
    "dense_sequence_no_bias": (lambda: layers.Dense(5, use_bias=False), (4, 7)),
    "conv1d_causal_dilated": (
        lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
        (10, 3),
    ),
    "conv2d_strided_same_no_bias": (
        lambda: layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False),
        (9, 9, 3),
    ),
    "conv3d_dilated": (lambda: layers.Conv3D(2, 2, dilation_rate=(1, 2, 1)), (4, 5, 4, 3)),
    "conv1d_transpose_strided": (lambda: layers.Conv1DTranspose(4, 3, strides=2), (6, 3)),
    "conv2d_transpose_same_relu": (
        lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        (5, 5, 3),
    ),
    "conv3d_transpose_no_bias": (
        lambda: layers.Conv3DTranspose(2, 2, use_bias=False),
        (3, 3, 3, 3),
    ),
}
RECURRENT_LAYERS = (layers.SimpleRNN, layers.GRU, layers.LSTM)


# --- helpers -------------------------------------------------------------------------------


def to_numpy(x) -> np.ndarray:
    return ops.convert_to_numpy(x)


def random_inputs(shape: tuple[int, ...], batch: int = 4, offset: float = 0.0) -> np.ndarray:
    """Standard-normal inputs (scaled and shifted, so batch statistics are not trivial)."""
    rng = np.random.default_rng(sum(shape) + batch)
    return (2.0 * rng.standard_normal((batch, *shape)) + offset).astype("float32")


def output_axis(layer: layers.Layer) -> int:
    return -2 if isinstance(layer, TRANSPOSE_LAYERS) else -1


def channel_norms(v: np.ndarray, axis: int) -> np.ndarray:
    """L2 norm of `v` over every axis but `axis`, shaped to broadcast against `v`."""
    axes = tuple(a for a in range(v.ndim) if a != v.ndim + axis)
    return np.sqrt(np.sum(np.square(v), axis=axes, keepdims=True))


def per_channel(vector: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * like.ndim
    shape[axis] = -1
    return np.reshape(vector, shape)


def expected_kernel(v: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """The paper's `w = g * v / ||v||`, computed in NumPy."""
    return per_channel(g, v, axis) * v / channel_norms(v, axis)


def kernel_variables(layer: layers.Layer) -> list:
    owner = layer.cell if isinstance(layer, RECURRENT_LAYERS) else layer
    if isinstance(layer, RECURRENT_LAYERS):
        return [owner.kernel, owner.recurrent_kernel]
    return [owner.kernel]


def random_lengths(shape) -> np.ndarray:
    return np.random.default_rng(1).uniform(0.5, 2.0, shape).astype("float32")


def wrapper_with_random_g(case: str) -> tuple[WeightNormalization, np.ndarray, np.ndarray, tuple]:
    """A built wrapper of a `LAYER_CASES` layer with random `g`: `(wrapper, g, x, shape)`."""
    factory, input_shape = LAYER_CASES[case]
    wrapper = WeightNormalization(factory(), data_init=False)
    wrapper.build((None, *input_shape))
    g = random_lengths(wrapper.g.shape)
    wrapper.g.assign(g)
    return wrapper, g, random_inputs(input_shape), input_shape


def plain_copy(layer: layers.Layer, input_shape, replacements: dict) -> layers.Layer:
    """A fresh copy of `layer` with its weights, except those replaced by `{id(var): value}`."""
    copy = type(layer).from_config(layer.get_config())
    copy.build((None, *input_shape))
    copy.set_weights([replacements.get(id(w), to_numpy(w)) for w in layer.weights])
    return copy


def wrapped_model(factory, input_shape, data_init_: bool = True) -> keras.Model:
    return keras.Sequential(
        [keras.Input(input_shape), WeightNormalization(factory(), data_init=data_init_)]
    )


def convnet(input_shape=(6, 6, 2), data_init_: bool = True) -> keras.Sequential:
    """A tiny version of the tutorial's ConvNet, every Conv2D and Dense weight-normalized."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            WeightNormalization(layers.Conv2D(3, 3, activation="relu"), data_init=data_init_),
            layers.Flatten(),
            WeightNormalization(layers.Dense(4, activation="relu"), data_init=data_init_),
            WeightNormalization(layers.Dense(2), data_init=data_init_),
        ]
    )


def weight_norm_layers(model: keras.Model) -> list[WeightNormalization]:
    return [
        layer
        for layer in flatten_layers(model, include_self=False)
        if isinstance(layer, WeightNormalization)
    ]


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [to_numpy(w) for w in model.weights]


def assert_weights_equal(actual: list, expected: list, **tolerance) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if tolerance:
            np.testing.assert_allclose(a, e, **tolerance)
        else:
            np.testing.assert_array_equal(a, e)


def preactivation(wrapper: WeightNormalization, x) -> np.ndarray:
    """The wrapped layer's output before its activation, with the normalized kernel."""
    plain = wrapper.remove()
    plain.activation = keras.activations.linear
    return to_numpy(plain(x)).astype("float64")


def channel_moments(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(range(t.ndim - 1))
    return t.mean(axis=axes), t.var(axis=axes)


def gradients(layer: layers.Layer, x, upstream) -> list[np.ndarray]:
    """Gradients of `sum(layer(x) * upstream)` w.r.t. `layer.trainable_variables`."""
    variables = layer.trainable_variables
    upstream = ops.convert_to_tensor(upstream)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = ops.sum(layer(x) * upstream)
        grads = tape.gradient(loss, variables)
    elif BACKEND == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable):
            outputs, _ = layer.stateless_call(trainable, non_trainable, x)
            return ops.sum(outputs * upstream)

        grads = jax.grad(loss_fn)([v.value for v in variables])
    elif BACKEND == "torch":
        import torch

        loss = ops.sum(layer(x) * upstream)
        grads = torch.autograd.grad(loss, [v.value for v in variables])
    else:
        pytest.skip(f"No gradient helper for the {BACKEND} backend")
    return [to_numpy(g) for g in grads]


def fit(model: keras.Model, x, y, learning_rate: float = 0.0, **kwargs) -> keras.callbacks.History:
    """Compiles with SGD (learning rate 0: weights change only by data init) and fits."""
    jit_compile = kwargs.pop("jit_compile", "auto")
    model.compile(keras.optimizers.SGD(learning_rate), "mse", jit_compile=jit_compile)
    return model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, **kwargs)


# --- reparameterization --------------------------------------------------------------------


@pytest.mark.parametrize("case", LAYER_CASES)
def test_equivalent_to_unwrapped_layer_at_init(case):
    factory, input_shape = LAYER_CASES[case]
    layer = factory()
    wrapper = WeightNormalization(layer, data_init=False)
    x = random_inputs(input_shape)

    outputs = to_numpy(wrapper(x))

    np.testing.assert_allclose(outputs, to_numpy(layer(x)), rtol=1e-5, atol=1e-5)
    v = to_numpy(layer.kernel)
    axis = output_axis(layer)
    channels = layer.units if isinstance(layer, layers.Dense) else layer.filters
    assert tuple(wrapper.g.shape) == (channels,)
    np.testing.assert_allclose(to_numpy(wrapper.g), channel_norms(v, axis).ravel(), rtol=1e-6)


@pytest.mark.parametrize("case", LAYER_CASES)
def test_kernel_is_g_times_unit_direction(case):
    """The wrapped layer's config is honoured and computes with w = g v / ||v||."""
    wrapper, g, x, input_shape = wrapper_with_random_g(case)
    layer = wrapper.layer

    outputs = to_numpy(wrapper(x))

    w = expected_kernel(to_numpy(layer.kernel), g, output_axis(layer))
    reference = plain_copy(layer, input_shape, {id(layer.kernel): w})
    expected = to_numpy(reference(x))
    assert outputs.shape == expected.shape
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", RECURRENT_LAYERS, ids=lambda cls: cls.__name__)
def test_recurrent_layers_normalize_both_kernels(cls):
    layer = cls(3, return_sequences=True)
    wrapper = WeightNormalization(layer, data_init=False)
    x = random_inputs((5, 2))
    np.testing.assert_allclose(to_numpy(wrapper(x)), to_numpy(layer(x)), rtol=1e-5, atol=1e-5)

    kernel, recurrent = kernel_variables(layer)
    g, g_recurrent = wrapper._gs
    assert g is wrapper.g and g_recurrent.path.endswith("g_recurrent_kernel")
    assert tuple(g.shape) == tuple(g_recurrent.shape) == (kernel.shape[-1],)
    new_g, new_g_recurrent = random_lengths(g.shape), 2.0 * random_lengths(g.shape)[::-1]
    g.assign(new_g)
    g_recurrent.assign(new_g_recurrent)
    reference = plain_copy(
        layer,
        (5, 2),
        {
            id(kernel): expected_kernel(to_numpy(kernel), new_g, -1),
            id(recurrent): expected_kernel(to_numpy(recurrent), new_g_recurrent, -1),
        },
    )
    np.testing.assert_allclose(to_numpy(wrapper(x)), to_numpy(reference(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", RECURRENT_LAYERS, ids=lambda cls: cls.__name__)
def test_recurrent_kernel_only_as_in_tfa(cls):
    """`kernels=("recurrent_kernel",)`: the input kernel is used as it is (tfa's form)."""
    layer = cls(3, return_sequences=True)
    wrapper = WeightNormalization(layer, data_init=False, kernels=["recurrent_kernel"])
    x = random_inputs((5, 2))
    wrapper.build((None, 5, 2))
    kernel, recurrent = kernel_variables(layer)
    assert wrapper.kernels == ("recurrent_kernel",)
    assert len(wrapper._gs) == 1 and wrapper.g.path.endswith("/g")
    np.testing.assert_allclose(to_numpy(wrapper.g), channel_norms(to_numpy(recurrent), -1).ravel())
    new_g = random_lengths(wrapper.g.shape)
    wrapper.g.assign(new_g)

    outputs = to_numpy(wrapper(x))

    replaced = {id(recurrent): expected_kernel(to_numpy(recurrent), new_g, -1)}
    reference = plain_copy(layer, (5, 2), replaced)
    np.testing.assert_allclose(outputs, to_numpy(reference(x)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(to_numpy(wrapper.remove()(x)), outputs, rtol=1e-5, atol=1e-5)
    clone = WeightNormalization.from_config(wrapper.get_config())
    assert clone.kernels == ("recurrent_kernel",)


@pytest.mark.slow
@pytest.mark.parametrize("cls", RECURRENT_LAYERS, ids=lambda cls: cls.__name__)
def test_recurrent_layers_train_in_fit(cls):
    model = wrapped_model(lambda: cls(3), (5, 2), data_init_=False)
    (wrapper,) = weight_norm_layers(model)
    before = [to_numpy(g) for g in wrapper._gs]

    history = fit(model, random_inputs((5, 2), 8), np.ones((8, 3)), learning_rate=0.1)

    assert np.isfinite(history.history["loss"]).all()
    for g, previous in zip(wrapper._gs, before):
        assert not np.array_equal(to_numpy(g), previous)


def test_recurrent_data_init_warns_and_is_disabled():
    with pytest.warns(UserWarning, match="LSTM"):
        wrapper = WeightNormalization(layers.LSTM(3))
    assert wrapper.data_init is False
    assert wrapper.get_config()["data_init"] is False


@pytest.mark.parametrize("case", ["dense_tanh", "conv2d_transpose_same_relu"])
def test_gradients_match_closed_form(case):
    """grad_g = grad_w . v/||v||;  grad_v = g/||v|| grad_w - g grad_g/||v||^2 v."""
    wrapper, g, x, input_shape = wrapper_with_random_g(case)
    layer = wrapper.layer
    upstream = np.random.default_rng(4).standard_normal(wrapper(x).shape).astype("float32")
    axis = output_axis(layer)
    v = to_numpy(layer.kernel).astype("float64")
    plain = plain_copy(layer, input_shape, {id(layer.kernel): expected_kernel(v, g, axis)})

    grads = dict(zip(map(id, wrapper.trainable_variables), gradients(wrapper, x, upstream)))
    plain_grads = dict(zip(map(id, plain.trainable_variables), gradients(plain, x, upstream)))

    grad_w = plain_grads[id(plain.kernel)].astype("float64")
    norm = channel_norms(v, axis)
    reduce_axes = tuple(a for a in range(v.ndim) if a != v.ndim + axis)
    grad_g = np.sum(grad_w * v, axis=reduce_axes) / norm.ravel()
    g_b = per_channel(g, v, axis)
    grad_v = g_b / norm * grad_w - g_b * per_channel(grad_g, v, axis) / norm**2 * v
    np.testing.assert_allclose(grads[id(wrapper.g)], grad_g, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[id(layer.kernel)], grad_v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        grads[id(layer.bias)], plain_grads[id(plain.bias)], rtol=1e-5, atol=1e-5
    )


# --- data-dependent initialization ---------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "dense_tanh",
        "dense_sequence_no_bias",
        "conv1d_causal_dilated",
        "conv2d_strided_same_no_bias",
        "conv2d_transpose_same_relu",
    ],
)
def test_data_init_normalizes_preactivations(case):
    factory, input_shape = LAYER_CASES[case]
    model = wrapped_model(factory, input_shape)
    (wrapper,) = weight_norm_layers(model)
    x = random_inputs(input_shape, batch=16, offset=1.5)
    mean_before, var_before = channel_moments(preactivation(wrapper, x))

    data_init(model, x)

    mean, var = channel_moments(preactivation(wrapper, x))
    np.testing.assert_allclose(var, 1.0, rtol=1e-3)
    if wrapper.layer.use_bias:
        np.testing.assert_allclose(mean, 0.0, atol=1e-3)
    else:  # scale only: each channel's mean/std ratio is unchanged
        np.testing.assert_allclose(
            mean / np.sqrt(var), mean_before / np.sqrt(var_before), rtol=1e-3, atol=1e-4
        )
    assert to_numpy(wrapper.initialized) == 1.0


def test_data_init_initializes_layer_after_layer():
    """Each layer is initialized on the outputs of the already-initialized layers before it."""
    model = convnet()
    x = random_inputs((6, 6, 2), batch=16, offset=1.0)
    data_init(model, x)

    t = x
    for layer in model.layers:
        if isinstance(layer, WeightNormalization):
            mean, var = channel_moments(preactivation(layer, t))
            np.testing.assert_allclose(mean, 0.0, atol=1e-3)
            np.testing.assert_allclose(var, 1.0, rtol=1e-3)
        t = layer(t)


JIT_COMPILE = [
    False,
    pytest.param(
        True, marks=pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA is TF-only here")
    ),
]


@pytest.mark.slow
@pytest.mark.skipif(not IN_FIT_INIT, reason=f"No automatic in-fit init on {BACKEND}")
@pytest.mark.parametrize("jit_compile", JIT_COMPILE, ids=["eager_graph", "xla"])
def test_data_init_runs_once_in_first_training_step(jit_compile):
    x = random_inputs((6, 6, 2), batch=24, offset=1.0)  # three different batches of 8
    y = np.zeros((24, 2), "float32")
    model = convnet()
    reference = convnet()
    reference.set_weights(model.get_weights())
    data_init(reference, x[:8])

    fit(model, x, y, jit_compile=jit_compile)

    # Same as the explicit init on the first batch: batches 2 and 3 changed nothing.
    assert_weights_equal(weights_of(model), weights_of(reference), rtol=1e-5, atol=1e-6)
    mean, var = channel_moments(preactivation(model.layers[0], x[:8]))
    np.testing.assert_allclose(mean, 0.0, atol=1e-3)
    np.testing.assert_allclose(var, 1.0, rtol=1e-3)
    # A second `fit` on new data does not initialize again.
    initialized = weights_of(model)
    model.fit(x[::-1] * 3.0, y, batch_size=8, verbose=0)
    assert_weights_equal(weights_of(model), initialized)


@pytest.mark.slow
def test_explicit_data_init_is_not_repeated_by_fit():
    x = random_inputs((6, 6, 2), batch=16, offset=1.0)
    model = convnet()
    data_init(model, x[:8])
    initialized = weights_of(model)

    fit(model, x[8:] * 2.0, np.zeros((8, 2)))

    assert_weights_equal(weights_of(model), initialized)


def test_data_init_never_runs_outside_training():
    inputs = keras.Input((6, 6, 2))  # symbolic build of a functional model
    model = keras.Model(inputs, convnet()(inputs))
    model.compile("sgd", "mse")
    x = random_inputs((6, 6, 2), batch=8, offset=1.0)
    before = weights_of(model)

    model.predict(x, verbose=0)
    model.evaluate(x, np.zeros((8, 2)), verbose=0)
    model(x)
    model(x, training=False)

    assert_weights_equal(weights_of(model), before)
    assert all(to_numpy(layer.initialized) == 0.0 for layer in weight_norm_layers(model))


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "jax", reason="JAX-only restriction")
def test_jax_fit_requires_explicit_data_init():
    x = random_inputs((6, 6, 2), batch=16, offset=1.0)
    y = np.zeros((16, 2), "float32")
    model = convnet()

    with pytest.raises(RuntimeError, match=r"JAX backend.*labkit\.data_init"):
        fit(model, x, y)

    model = convnet()  # Keras' JAX trainer released the failed model's weights
    data_init(model, x[:8])
    initialized = weights_of(model)
    history = fit(model, x, y, learning_rate=0.1)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.array_equal(to_numpy(model.layers[0].g), initialized[0])


def dense_stack(middle: layers.Layer | None = None) -> keras.Sequential:
    """Two weight-normalized Dense layers, optionally with a plain layer between them."""
    return keras.Sequential(
        [
            keras.Input((5,)),
            WeightNormalization(layers.Dense(4, activation="tanh"), name="wn_first"),
            *([middle] if middle is not None else []),
            WeightNormalization(layers.Dense(2), name="wn_second"),
        ]
    )


def with_one_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x.flat[3] = np.nan
    return x


BAD_BATCHES = {
    "empty": (lambda x: x[:0], "the batch is empty"),
    "one_nan": (with_one_nan, "NaN or inf"),
    "one_inf": (lambda x: np.where(x > 3.0, np.inf, x).astype("float32"), "NaN or inf"),
    "overflow": (lambda x: x * np.float32(1e36), "not finite"),
    "constant": (lambda x: np.full_like(x, 0.5), "every output channel is constant"),
    "single_example": (lambda x: x[:1], "every output channel is constant"),
}


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_data_init_refuses_a_bad_batch_and_changes_nothing(case):
    corrupt, problem = BAD_BATCHES[case]
    model = dense_stack()
    before = weights_of(model)

    with pytest.raises(ValueError, match=problem) as error:
        data_init(model, corrupt(random_inputs((5,), batch=16, offset=1.0)))

    assert "'wn_first'" in str(error.value) and "\n" not in str(error.value)
    assert_weights_equal(weights_of(model), before)
    # Still uninitialized: a good batch initializes it as if nothing had happened.
    reference = dense_stack()
    reference.set_weights(before)
    x = random_inputs((5,), batch=16, offset=1.0)
    assert_weights_equal(weights_of(data_init(model, x)), weights_of(data_init(reference, x)))


def test_a_refusal_deep_in_the_model_restores_the_layers_before_it():
    """`wn_first` initializes, then `wn_second` gets a constant input: both stay as they were."""
    constant = layers.Dense(3, kernel_initializer="zeros", bias_initializer="ones")
    model = dense_stack(middle=constant)
    before = weights_of(model)

    with pytest.raises(ValueError, match="'wn_second'.*every output channel is constant"):
        data_init(model, random_inputs((5,), batch=16, offset=1.0))

    assert_weights_equal(weights_of(model), before)
    assert [to_numpy(layer.initialized) for layer in weight_norm_layers(model)] == [0.0, 0.0]


@pytest.mark.slow
def test_a_dead_channel_keeps_its_g_and_bias():
    """A unit whose inputs are all zero on the batch has no spread to normalize."""
    model = wrapped_model(lambda: layers.Dense(3, bias_initializer="ones"), (5,))
    (wrapper,) = weight_norm_layers(model)
    kernel = to_numpy(wrapper.layer.kernel)
    kernel[:, 1] = [2.0, 0.0, 0.0, 0.0, 0.0]  # unit 1 reads feature 0 only...
    wrapper.layer.kernel.assign(kernel)
    wrapper.reset_lengths()
    x = random_inputs((5,), batch=8, offset=1.0)
    x[:, 0] = 0.0  # ...which is zero on this batch
    g_before, bias_before = to_numpy(wrapper.g), to_numpy(wrapper.layer.bias)

    with pytest.warns(UserWarning, match="1 of 3 output channels are constant"):
        data_init(model, x)

    g, bias = to_numpy(wrapper.g), to_numpy(wrapper.layer.bias)
    assert (g[1], bias[1]) == (g_before[1], bias_before[1])
    assert np.isfinite(g).all() and g[1] < 10.0
    mean, var = channel_moments(preactivation(wrapper, x))
    np.testing.assert_allclose(var[[0, 2]], 1.0, rtol=1e-3)
    np.testing.assert_allclose(mean[[0, 2]], 0.0, atol=1e-3)
    if IN_FIT_INIT:  # the first training step's init treats the dead unit alike
        fitted = wrapped_model(lambda: layers.Dense(3, bias_initializer="ones"), (5,))
        (fitted_wrapper,) = weight_norm_layers(fitted)
        fitted_wrapper.layer.kernel.assign(kernel)
        fitted_wrapper.reset_lengths()
        fit(fitted, x, np.zeros((8, 3)))
        np.testing.assert_allclose(to_numpy(fitted_wrapper.g), g, rtol=1e-5)
        np.testing.assert_allclose(to_numpy(fitted_wrapper.layer.bias), bias, atol=1e-6)


def test_data_init_without_wrappers_to_initialize_raises():
    model = convnet(data_init_=False)
    with pytest.raises(ValueError, match="no WeightNormalization layer with `data_init=True`"):
        data_init(model, random_inputs((6, 6, 2)))


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from labkit.weightnorm import data_init

    sys.path.insert(0, "tests")
    from test_weightnorm import convnet, random_inputs

    keras.utils.set_random_seed(0)
    x = random_inputs((6, 6, 2), batch=64, offset=1.0)  # two different batches of 32
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = convnet()
        model.compile(keras.optimizers.SGD(0.0), "mse")
    initial = model.get_weights()
    model.fit(x, np.zeros((64, 2)), batch_size=32, shuffle=False, verbose=0)
    # Each replica initializes on its half of the first batch; g and bias are averaged.
    halves = []
    for half in (x[:16], x[16:32]):
        reference = convnet()
        reference.set_weights(initial)
        data_init(reference, half)
        halves.append(reference.layers[0])
    replicas_agree = all(
        all(np.array_equal(r.numpy(), replicas[0].numpy()) for r in replicas)
        for replicas in (strategy.experimental_local_results(w.value) for w in model.weights)
    )
    first = model.layers[0]
    print(json.dumps({
        "replicas_agree": bool(replicas_agree),
        "initialized": [float(w.initialized.numpy()) for w in model.layers if hasattr(w, "g")],
        "g": first.g.numpy().tolist(),
        "bias": first.layer.bias.numpy().tolist(),
        "expected_g": np.mean([h.g.numpy() for h in halves], axis=0).tolist(),
        "expected_bias": np.mean([h.layer.bias.numpy() for h in halves], axis=0).tolist(),
    }))
    """
)


@pytest.mark.slow
@requires_tensorflow
def test_data_init_in_fit_under_mirrored_strategy():
    """Two logical CPUs must be configured before TensorFlow starts: use a subprocess."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["replicas_agree"], "a variable has different values on the two replicas"
    assert report["initialized"] == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(report["g"], report["expected_g"], rtol=1e-5)
    np.testing.assert_allclose(report["bias"], report["expected_bias"], rtol=1e-5, atol=1e-6)


# --- mixed precision -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("restore_dtype_policy")
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training(policy):
    keras.config.set_dtype_policy(policy)
    x = random_inputs((6, 6, 2), batch=16, offset=1.0)
    model = convnet()
    if not IN_FIT_INIT:
        data_init(model, x[:8])

    history = fit(model, x, np.ones((16, 2)), learning_rate=0.05)

    assert np.isfinite(history.history["loss"]).all()
    compute_dtype = keras.mixed_precision.Policy(policy).compute_dtype
    for wrapper in weight_norm_layers(model):
        assert to_numpy(wrapper.initialized) == 1.0
        assert wrapper.g.dtype == wrapper.layer.kernel.dtype == "float32"
        assert np.isfinite(to_numpy(wrapper.g)).all()
    assert keras.backend.standardize_dtype(model(x).dtype) == compute_dtype


@pytest.mark.usefixtures("restore_dtype_policy")
def test_mixed_precision_norms_are_float32():
    """A kernel whose squared norm overflows float16 still normalizes correctly."""
    keras.config.set_dtype_policy("mixed_float16")
    layer = layers.Dense(2, use_bias=False)
    wrapper = WeightNormalization(layer, data_init=False)
    wrapper.build((None, 8))
    layer.kernel.assign(np.full((8, 2), 300.0))  # sum of squares 720000 > float16 max
    wrapper.g.assign(np.ones(2))

    outputs = to_numpy(wrapper(np.ones((1, 8), "float32")))

    np.testing.assert_allclose(outputs.astype("float32"), np.sqrt(8.0), rtol=1e-3)


@pytest.mark.slow
@pytest.mark.usefixtures("restore_dtype_policy")
@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_zero_kernel_gives_no_nan(policy):
    keras.config.set_dtype_policy(policy)
    model = convnet(data_init_=False)
    for wrapper in weight_norm_layers(model):
        wrapper.layer.kernel.assign(np.zeros(wrapper.layer.kernel.shape))
    x = random_inputs((6, 6, 2), batch=8)

    assert np.isfinite(to_numpy(model(x)).astype("float32")).all()
    fit(model, x, np.ones((8, 2)), learning_rate=0.1)
    assert all(np.isfinite(w).all() for w in weights_of(model))


# --- serialization -------------------------------------------------------------------------


@pytest.fixture
def trained_model():
    """The tiny ConvNet after data init and one epoch of Adam (so it has optimizer state)."""
    x = random_inputs((6, 6, 2), batch=16, offset=1.0)
    model = convnet()
    if not IN_FIT_INIT:
        data_init(model, x[:8])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, np.ones((16, 2)), batch_size=8, shuffle=False, verbose=0)
    return model


@pytest.mark.slow
def test_save_and_load_model(trained_model, tmp_path):
    path = tmp_path / "m.keras"
    trained_model.save(path)
    loaded = keras.models.load_model(path)
    x = random_inputs((6, 6, 2), batch=8, offset=-1.0)

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), trained_model.predict(x, verbose=0))
    assert [type(layer) for layer in loaded.layers] == [
        type(layer) for layer in trained_model.layers
    ]

    # Training continues exactly like the original's (optimizer state restored), and data
    # init does not run again on the new batch.
    for model in (trained_model, loaded):
        model.fit(x, np.zeros((8, 2)), batch_size=8, shuffle=False, verbose=0)
    assert_weights_equal(weights_of(loaded), weights_of(trained_model), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_save_and_load_weights(trained_model, tmp_path):
    path = tmp_path / "m.weights.h5"
    trained_model.save_weights(path)
    fresh = convnet()
    fresh.load_weights(path)
    x = random_inputs((6, 6, 2), batch=8, offset=-1.0)

    np.testing.assert_array_equal(to_numpy(fresh(x)), to_numpy(trained_model(x)))
    loaded = weights_of(fresh)
    fit(fresh, x, np.zeros((8, 2)))  # the restored `initialized` flag prevents a new init
    assert_weights_equal(weights_of(fresh), loaded)


def test_config_round_trip():
    wrapper = WeightNormalization(
        layers.Conv2DTranspose(3, 2, strides=2), data_init=False, init_style="tfa"
    )
    clone = WeightNormalization.from_config(wrapper.get_config())
    assert clone.data_init is False
    assert clone.init_style == "tfa"
    assert WeightNormalization(layers.Dense(2)).init_style == "paper"
    assert isinstance(clone.layer, layers.Conv2DTranspose)
    assert clone.layer.get_config() == wrapper.layer.get_config()


def test_kernels_selection_is_saved_with_the_model(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5, 2)),
            WeightNormalization(layers.GRU(3), data_init=False, kernels=("recurrent_kernel",)),
        ]
    )
    (wrapper,) = weight_norm_layers(model)
    wrapper.g.assign(random_lengths(wrapper.g.shape))
    x = random_inputs((5, 2))
    model.save(tmp_path / "m.keras")

    loaded = keras.models.load_model(tmp_path / "m.keras")

    (loaded_wrapper,) = weight_norm_layers(loaded)
    assert loaded_wrapper.kernels == ("recurrent_kernel",)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


def test_wrapper_saves_only_its_own_variables():
    """The wrapped layer's kernels are saved once, with the wrapped layer."""
    wrapper = WeightNormalization(layers.LSTM(3), data_init=False)
    wrapper.build((None, 5, 2))
    store = {}
    wrapper.save_own_variables(store)
    own = [to_numpy(value) for value in store.values()]
    assert [value.shape for value in own] == [(12,), (12,), ()]  # g, g_recurrent_kernel, flag
    assert len(wrapper.weights) == 6


@pytest.mark.slow
@requires_tensorflow
def test_export_for_inference(trained_model, tmp_path):
    import tensorflow as tf

    trained_model.export(str(tmp_path / "exported"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    x = random_inputs((6, 6, 2), batch=8, offset=-1.0)

    np.testing.assert_allclose(
        served.serve(x).numpy(), trained_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


# --- removal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["dense_tanh", "conv2d_strided_same_no_bias", "conv3d_transpose_no_bias"]
)
def test_remove_bakes_the_normalized_kernel(case):
    factory, input_shape = LAYER_CASES[case]
    model = wrapped_model(factory, input_shape)
    (wrapper,) = weight_norm_layers(model)
    x = random_inputs(input_shape, batch=8, offset=1.0)
    data_init(model, x)

    plain = wrapper.remove()

    assert type(plain) is type(wrapper.layer) and plain is not wrapper.layer
    w = expected_kernel(
        to_numpy(wrapper.layer.kernel), to_numpy(wrapper.g), output_axis(wrapper.layer)
    )
    np.testing.assert_allclose(to_numpy(plain.kernel), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(plain(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5)


def test_remove_recurrent_layer():
    wrapper = WeightNormalization(layers.GRU(3), data_init=False)
    x = random_inputs((5, 2))
    wrapper(x)
    for g in wrapper._gs:
        g.assign(to_numpy(g) * 1.5)

    plain = wrapper.remove()

    assert isinstance(plain, layers.GRU)
    np.testing.assert_allclose(to_numpy(plain(x)), to_numpy(wrapper(x)), rtol=1e-5, atol=1e-5)


def nested_model() -> keras.Model:
    inputs = keras.Input((6, 6, 2))
    return keras.Model(inputs, layers.Softmax()(convnet()(inputs)))


def functional_model() -> keras.Model:
    inputs = keras.Input((6, 6, 2))
    hidden = WeightNormalization(layers.Conv2D(3, 3, padding="same"))(inputs)
    outputs = WeightNormalization(layers.Dense(2))(layers.GlobalAveragePooling2D()(hidden))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("build", [convnet, functional_model, nested_model])
def test_remove_weight_norm_from_model(build):
    model = build()
    x = random_inputs((6, 6, 2), batch=8, offset=1.0)
    data_init(model, x)
    expected = to_numpy(model(x))
    original_weights = weights_of(model)

    plain = remove_weight_norm(model)

    assert weight_norm_layers(plain) == []
    np.testing.assert_allclose(to_numpy(plain(x)), expected, rtol=1e-5, atol=1e-5)
    # The original model is untouched.
    assert len(weight_norm_layers(model)) == (2 if build is functional_model else 3)
    assert_weights_equal(weights_of(model), original_weights)
    np.testing.assert_array_equal(to_numpy(model(x)), expected)


# --- inside Keras' wrappers ------------------------------------------------------------------


@pytest.mark.slow
def test_time_distributed_builds_trains_and_loads(tmp_path):
    """The issue's example: Keras needs `compute_output_shape` to build it symbolically."""
    model = keras.Sequential(
        [
            keras.Input((2, 5, 5, 2)),
            layers.TimeDistributed(WeightNormalization(layers.Conv2D(3, 3), data_init=False)),
            layers.Flatten(),
        ]
    )
    x = random_inputs((2, 5, 5, 2))
    assert model.output_shape == (None, 2 * 3 * 3 * 3)
    fit(model, x, np.zeros((4, 2 * 3 * 3 * 3)), learning_rate=0.1)
    model.save(tmp_path / "m.keras")

    loaded = keras.models.load_model(tmp_path / "m.keras")

    assert isinstance(loaded.layers[0].layer, WeightNormalization)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)


def test_bidirectional_builds_its_backward_copy_and_passes_the_mask(tmp_path):
    """The issue's example (`go_backwards`), with a mask from the Embedding before it."""
    tokens = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    embed = layers.Embedding(6, 3, mask_zero=True)
    wrapped = layers.Bidirectional(WeightNormalization(layers.LSTM(2), data_init=False))
    plain = layers.Bidirectional(layers.LSTM(2))
    plain(embed(tokens))
    outputs = to_numpy(wrapped(embed(tokens)))

    assert wrapped.forward_layer.go_backwards is False and wrapped.backward_layer.go_backwards
    for plain_layer, wrapper in (
        (plain.forward_layer, wrapped.forward_layer),
        (plain.backward_layer, wrapped.backward_layer),
    ):
        plain_layer.set_weights(wrapper.layer.get_weights())
    np.testing.assert_allclose(outputs, to_numpy(plain(embed(tokens))), rtol=1e-5, atol=1e-6)
    model = keras.Sequential([keras.Input((5,), dtype="int32"), embed, wrapped])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(tokens)), outputs, rtol=1e-6, atol=1e-6)


def test_bidirectional_needs_a_recurrent_layer_inside():
    with pytest.raises(ValueError, match="needs a recurrent layer inside WeightNormalization"):
        layers.Bidirectional(WeightNormalization(layers.Dense(2)))


# --- invalid use ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [layers.Flatten(), layers.Dropout(0.5), layers.BatchNormalization()],
    ids=lambda layer: type(layer).__name__,
)
def test_layer_without_kernel_is_rejected(layer):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"cannot wrap `{name}` layer .*: it has no kernel"):
        WeightNormalization(layer)


def test_embedding_is_normalized_only_on_request():
    with pytest.raises(ValueError, match=r"only on request: pass `kernels=\('embeddings',\)`"):
        WeightNormalization(layers.Embedding(5, 2))


def test_double_wrapping_is_rejected():
    with pytest.raises(ValueError, match="already weight-normalized"):
        WeightNormalization(WeightNormalization(layers.Dense(2)))


def test_a_layer_owned_by_another_wrapper_is_refused_and_a_shared_wrapper_loads(tmp_path):
    """Two wrappers around one layer would each save its variables: the model would not load.
    Sharing the wrapper itself (calling it twice) builds, saves and loads."""
    dense = layers.Dense(3, name="shared_dense")
    wrapper = WeightNormalization(dense, data_init=False, name="owner")
    with pytest.raises(
        ValueError,
        match=r"^Layer 'shared_dense' already belongs to "
        r"WeightNormalization layer 'owner'.*call that wrapper twice.*`layer=Dense`$",
    ):
        WeightNormalization(dense)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, wrapper(wrapper(inputs)))
    x = random_inputs((3,))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)
    del wrapper, model, inputs  # once its wrapper is gone, the layer can be wrapped again
    WeightNormalization(dense)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: layers.TimeDistributed(layers.Dense(2)),
            r"wrap the layer inside it instead: `TimeDistributed\(WeightNormalization\(Dense",
        ),
        (
            lambda: layers.Bidirectional(layers.LSTM(2)),
            r"`Bidirectional\(WeightNormalization\(LSTM\(\.\.\.\)\)\)`",
        ),
        (lambda: layers.MultiHeadAttention(2, 2), "creates its kernels in EinsumDense layers"),
        (lambda: layers.GroupQueryAttention(2, 2, 1), "creates its kernels in EinsumDense"),
        (lambda: layers.LSTMCell(2), r"an RNN cell; wrap the RNN layer: `WeightNormalization\(RNN"),
        (lambda: keras.Sequential([layers.Dense(2)]), r"it is a model; `labkit.apply_weight_norm"),
        (lambda: layers.EinsumDense("ab,b->ab", (3,)), "no axis to take a norm over"),
        (
            lambda: layers.RNN(layers.StackedRNNCells([layers.LSTMCell(2)])),
            "its cell `StackedRNNCells` has no `kernel`",
        ),
    ],
    ids=[
        "TimeDistributed",
        "Bidirectional",
        "MultiHeadAttention",
        "GroupQueryAttention",
        "RNN_cell",
        "model",
        "EinsumDense",
        "StackedRNNCells",
    ],
)
def test_layers_that_cannot_be_wrapped_are_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message) as error:
        WeightNormalization(make())
    assert "\n" not in str(error.value) and "Received: `layer=" in str(error.value)


def test_a_quantized_layer_is_refused():
    layer = layers.Dense(2)
    layer.build((None, 4))
    layer.quantize("int8")
    with pytest.raises(ValueError, match=r"it is quantized \(`int8`\); wrap the float layer"):
        WeightNormalization(layer)


def test_data_init_is_turned_off_for_an_einsum_bias_that_is_not_per_unit():
    layer = layers.EinsumDense("ab,bcd->acd", (3, 2), bias_axes="d")
    with pytest.warns(UserWarning, match=r"bias \(`bias_axes='d'`\) does not hold one value"):
        assert WeightNormalization(layer).data_init is False


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"layer": "dense"}, "isn't a supported layer type"),
        ({"layer": layers.Dense(2), "data_init": "yes"}, r"`data_init='yes'`"),
        ({"layer": layers.Dense(2), "data_init": 1}, r"`data_init=1`"),
        ({"layer": layers.Dense(2), "eps": 1e-3}, "eps"),
        ({"layer": layers.Dense(2), "kernels": ["recurrent_kernel"]}, r"names from 'kernel' "),
        ({"layer": layers.LSTM(2), "kernels": []}, r"`kernels=\[\]`"),
        ({"layer": layers.LSTM(2), "kernels": "kernel"}, r"`kernels='kernel'`"),
        ({"layer": layers.LSTM(2), "kernels": ("kernel", "kernel")}, "distinct names"),
        ({"layer": layers.GRU(2), "kernels": ["bias"]}, r"kernels of `GRU`"),
        (
            {"layer": layers.Dense(2), "init_style": "x"},
            r"^Invalid value for `init_style`: expected one of 'paper', 'tfa'\. "
            r"Received: `init_style='x'`$",
        ),
    ],
    ids=[
        "not_a_layer",
        "data_init_string",
        "data_init_int",
        "unknown_keyword",
        "kernels_not_in_dense",
        "kernels_empty",
        "kernels_string",
        "kernels_repeated",
        "kernels_not_a_kernel",
        "init_style",
    ],
)
def test_invalid_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        WeightNormalization(**arguments)


def test_remove_requires_a_built_wrapper():
    with pytest.raises(ValueError, match="must be built before `remove\\(\\)`"):
        WeightNormalization(layers.Dense(2)).remove()


def test_remove_weight_norm_requires_a_built_model():
    with pytest.raises(ValueError, match="must be built"):
        remove_weight_norm(keras.Sequential([WeightNormalization(layers.Dense(2))]))
