"""Tests for `labkit.meanonly` on the active Keras backend.

`tests/integration/test_backends.py` runs this module again under `KERAS_BACKEND=jax` and `torch`.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

from labkit.meanonly import MeanOnlyBatchNormalization

pytestmark = [
    pytest.mark.usefixtures("seeded"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

# name -> (input shape without the batch axis, channel axis). Channel counts differ from the
# other axes' sizes so that a wrong reduction axis cannot go unnoticed.
SHAPES = {
    "dense": ((5,), -1),
    "sequence": ((4, 3), -1),
    "image_channels_last": ((6, 7, 3), -1),
    "image_channels_first": ((3, 6, 7), 1),
}


def random_inputs(shape: tuple[int, ...], batch: int = 8, seed: int = 0) -> np.ndarray:
    """Inputs with a different mean and spread per position (statistics are not trivial)."""
    rng = np.random.default_rng(seed)
    return (3.0 * rng.standard_normal((batch, *shape)) + rng.normal(size=shape)).astype("float32")


def channel_mean(x: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    return x.mean(axis=axes, keepdims=keepdims)


def as_channels(vector: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(vector, shape)


def numpy_of(x) -> np.ndarray:
    return ops.convert_to_numpy(x)


# --- what it computes ----------------------------------------------------------------------


@pytest.mark.parametrize("case", SHAPES)
def test_training_subtracts_the_batch_mean_without_rescaling(case):
    shape, axis = SHAPES[case]
    layer = MeanOnlyBatchNormalization(axis=axis)
    x = random_inputs(shape)
    beta = np.linspace(-1.0, 1.0, (None, *shape)[axis])
    layer.build((None, *shape))
    layer.beta.assign(beta)

    y = numpy_of(layer(x, training=True))

    expected = x - channel_mean(x, axis, keepdims=True) + as_channels(beta, x.ndim, axis)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(channel_mean(y, axis), beta, atol=1e-5)
    # No variance division: the spread of every channel is the input's.
    centred = y - as_channels(beta, x.ndim, axis)
    np.testing.assert_allclose(centred.std(), (x - channel_mean(x, axis, True)).std(), rtol=1e-5)


@pytest.mark.parametrize("case", SHAPES)
def test_inference_subtracts_the_moving_mean(case):
    shape, axis = SHAPES[case]
    momentum = 0.9
    layer = MeanOnlyBatchNormalization(axis=axis, momentum=momentum)
    batches = [random_inputs(shape, seed=seed) for seed in range(3)]

    expected_moving = np.zeros((None, *shape)[axis])
    for batch in batches:
        layer(batch, training=True)
        expected_moving = momentum * expected_moving + (1 - momentum) * channel_mean(batch, axis)

    np.testing.assert_allclose(numpy_of(layer.moving_mean), expected_moving, rtol=1e-5, atol=1e-6)
    x = random_inputs(shape, seed=7)
    for y in (layer(x), layer(x, training=False)):
        expected = x - as_channels(expected_moving, x.ndim, axis)
        np.testing.assert_allclose(numpy_of(y), expected, rtol=1e-5, atol=1e-5)
    # Inference leaves the moving mean alone.
    np.testing.assert_allclose(numpy_of(layer.moving_mean), expected_moving, rtol=1e-5, atol=1e-6)


def test_matches_batch_normalization_times_its_standard_deviation():
    """Keras' BatchNormalization without scale or offset divides by sqrt(var + eps); this
    layer does not. Their moving means follow the same rule."""
    x = random_inputs((6, 6, 4), batch=16)
    reference = layers.BatchNormalization(center=False, scale=False, epsilon=1e-3)
    layer = MeanOnlyBatchNormalization(center=False)
    for _ in range(3):
        expected = numpy_of(reference(x, training=True))
        y = numpy_of(layer(x, training=True))
    std = np.sqrt(x.var(axis=(0, 1, 2)) + 1e-3)
    np.testing.assert_allclose(y, expected * std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        numpy_of(layer.moving_mean), numpy_of(reference.moving_mean), rtol=1e-5, atol=1e-6
    )


def test_weights_beta_trainable_moving_mean_not():
    layer = MeanOnlyBatchNormalization()
    layer.build((None, 4, 4, 3))
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["beta"]
    assert [w.path.split("/")[-1] for w in layer.non_trainable_weights] == ["moving_mean"]
    assert layer.beta.shape == layer.moving_mean.shape == (3,)

    plain = MeanOnlyBatchNormalization(center=False)
    plain.build((None, 4, 4, 3))
    assert plain.trainable_weights == [] and plain.beta is None
    x = random_inputs((4, 4, 3))
    np.testing.assert_allclose(
        numpy_of(plain(x, training=True)), x - channel_mean(x, -1, True), atol=1e-5
    )


def test_frozen_layer_runs_in_inference_mode():
    layer = MeanOnlyBatchNormalization()
    x = random_inputs((5,))
    layer(x, training=True)
    moving = numpy_of(layer.moving_mean)
    layer.trainable = False

    y = numpy_of(layer(x, training=True))

    np.testing.assert_allclose(y, x - moving, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(numpy_of(layer.moving_mean), moving)


# --- in a model ----------------------------------------------------------------------------


def small_model() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.Conv2D(3, 3, use_bias=False),
            MeanOnlyBatchNormalization(),
            layers.Activation("relu"),
            layers.Flatten(),
            layers.Dense(2, use_bias=False),
            MeanOnlyBatchNormalization(momentum=0.5),
        ]
    )


def fitted(model: keras.Model, x: np.ndarray, y: np.ndarray) -> keras.Model:
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    return model


@pytest.mark.slow
def test_fit_learns_beta_and_updates_the_moving_mean():
    """One compiled training step on every backend: `beta` gets a gradient, the moving mean
    (a non-trainable variable) is updated by the step."""
    x = random_inputs((6, 6, 2), batch=8)
    target = np.full((8, 2), 2.0, "float32")
    model = small_model()
    last = model.layers[-1]

    fitted(model, x, target)

    beta = numpy_of(last.beta)
    # One SGD step from 0: d mse / d beta = mean(output) - 2 = beta - 2 = -2.
    np.testing.assert_allclose(beta, 0.1 * 2.0, rtol=1e-5)
    assert np.abs(numpy_of(model.layers[1].moving_mean)).max() > 0
    assert np.abs(numpy_of(last.moving_mean)).max() > 0


@pytest.mark.slow
def test_save_and_load_model(tmp_path):
    x = random_inputs((6, 6, 2), batch=16)
    model = fitted(small_model(), x, np.ones((16, 2), "float32"))
    model.save(tmp_path / "m.keras")

    loaded = keras.models.load_model(tmp_path / "m.keras")

    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[-1].momentum == 0.5
    test = random_inputs((6, 6, 2), batch=4, seed=3)
    np.testing.assert_array_equal(loaded.predict(test, verbose=0), model.predict(test, verbose=0))
    for mine, theirs in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(numpy_of(mine), numpy_of(theirs))


def test_config_round_trip():
    layer = MeanOnlyBatchNormalization(
        axis=1,
        momentum=0.9,
        center=False,
        moving_mean_initializer="ones",
        beta_regularizer="l2",
        name="mobn",
    )
    clone = MeanOnlyBatchNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.axis, clone.momentum, clone.center, clone.name) == (1, 0.9, False, "mobn")
    clone.build((None, 3, 5))
    np.testing.assert_array_equal(numpy_of(clone.moving_mean), np.ones(3))


@pytest.mark.usefixtures("restore_dtype_policy")
def test_mixed_precision_keeps_float32_statistics():
    keras.config.set_dtype_policy("mixed_float16")
    layer = MeanOnlyBatchNormalization()
    x = random_inputs((4,), batch=16) + 1000.0  # a mean float16 holds only roughly

    y = layer(ops.cast(x, "float16"), training=True)

    assert ops.dtype(y) == "float16"
    assert layer.moving_mean.dtype == "float32" and layer.beta.dtype == "float32"
    expected = x.astype("float16").astype("float32").mean(axis=0) * 0.01
    np.testing.assert_allclose(numpy_of(layer.moving_mean), expected, rtol=1e-5)


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"axis": 1.0}, "Invalid value for `axis`: expected an integer. Received: `axis=1.0`"),
        ({"momentum": 1.5}, "expected a number in [0, 1]. Received: `momentum=1.5`"),
        ({"momentum": True}, "Received: `momentum=True`"),
        ({"center": "yes"}, "Invalid value for `center`: expected a boolean."),
    ],
)
def test_invalid_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError) as error:
        MeanOnlyBatchNormalization(**arguments)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_axis_outside_the_inputs_is_rejected_when_built():
    layer = MeanOnlyBatchNormalization(axis=3)
    with pytest.raises(ValueError) as error:
        layer.build((None, 4, 5))
    assert str(error.value) == (
        "Invalid value for `axis`: expected an axis of the inputs, in [-3, 2] for inputs of "
        "rank 3. Received: `axis=3`"
    )
