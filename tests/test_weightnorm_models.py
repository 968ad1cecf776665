"""Tests for `labkit.weightnorm.models` (`apply_weight_norm`, `remove_weight_norm`) on the active
backend. `tests/test_weightnorm_kernels.py` applies them to every layer type; this module covers
whole models: Sequential, functional and nested ones, filters, what cannot be wrapped, and bad
input. `tests/integration/test_backends.py` runs it again under JAX and PyTorch.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers, ops

from labkit._keras_compat import flatten_layers
from labkit.weightnorm import WeightNormalization, apply_weight_norm, remove_weight_norm

pytestmark = [
    pytest.mark.usefixtures("seeded"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@keras.saving.register_keras_serializable(package="labkit_tests")
class Scale(layers.Layer):
    """A custom layer with a `kernel` (labkit does not know its axes)."""

    def __init__(self, units: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get("glorot_uniform")

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs):
        return ops.matmul(inputs, self.kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def to_numpy(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def wrappers_of(model: keras.Model) -> list[WeightNormalization]:
    return [layer for layer in flatten_layers(model) if isinstance(layer, WeightNormalization)]


def inputs(shape: tuple, batch: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, *shape)).astype("float32")


def sequence_model() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input((4, 3)),
            layers.Bidirectional(layers.GRU(2, return_sequences=True)),
            layers.TimeDistributed(layers.Dense(3)),
            layers.LayerNormalization(),
            layers.Flatten(),
            layers.Dense(2, name="logits"),
        ]
    )


def nested_model() -> keras.Model:
    """A functional model around a Sequential one, with a Dense layer called twice."""
    block = keras.Sequential([keras.Input((4, 4, 2)), layers.Conv2D(3, 2), layers.Flatten()])
    shared = layers.Dense(3, name="shared")
    x = keras.Input((4, 4, 2))
    h = block(x)
    return keras.Model(x, layers.Dense(2, name="logits")(shared(shared(layers.Dense(3)(h)))))


def test_apply_then_remove_keeps_the_predictions_of_a_sequential_model():
    model = sequence_model()
    x = inputs((4, 3))
    expected = to_numpy(model(x))
    weights = [to_numpy(w) for w in model.weights]

    normalized = apply_weight_norm(model)

    kinds = [type(layer).__name__ for layer in normalized.layers]
    assert kinds == [
        "Bidirectional",
        "TimeDistributed",
        "LayerNormalization",
        "Flatten",
        "WeightNormalization",
    ]
    assert len(wrappers_of(normalized)) == 4  # both directions, the Dense inside, the logits
    assert normalized.get_layer("logits").layer.name == "logits"
    np.testing.assert_allclose(to_numpy(normalized(x)), expected, rtol=1e-5, atol=1e-5)
    plain = remove_weight_norm(normalized)
    assert [type(layer) for layer in plain.layers] == [type(layer) for layer in model.layers]
    assert wrappers_of(plain) == []
    np.testing.assert_allclose(to_numpy(plain(x)), expected, rtol=1e-5, atol=1e-5)
    # The original shares nothing with the copy and is left as it was.
    assert not {id(w) for w in model.weights} & {id(w) for w in normalized.weights}
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(to_numpy(after), before)


def test_apply_wraps_nested_models_and_shared_layers_with_a_filter():
    model = nested_model()
    x = inputs((4, 4, 2))
    expected = to_numpy(model(x))

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing left that needs a word
        normalized = apply_weight_norm(model, layer_filter=lambda layer: layer.name != "logits")

    wrapped = {wrapper.name for wrapper in wrappers_of(normalized)}
    assert "logits" not in wrapped and "shared" in wrapped and len(wrapped) == 3
    assert isinstance(normalized.layers[1], keras.Sequential)
    assert isinstance(normalized.layers[1].layers[0], WeightNormalization)  # the Conv2D
    np.testing.assert_allclose(to_numpy(normalized(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(remove_weight_norm(normalized)(x)), expected, rtol=1e-5, atol=1e-5
    )


def test_apply_names_the_layers_it_cannot_wrap():
    x = keras.Input((3, 4))
    attended = layers.MultiHeadAttention(2, 2, name="attention")(x, x)
    h = Scale(3, name="custom")(layers.BatchNormalization()(attended))
    model = keras.Model(x, layers.Dense(2)(h))

    with pytest.warns(UserWarning, match="left 2 layer") as caught:
        normalized = apply_weight_norm(model)

    (message,) = [str(w.message) for w in caught if "apply_weight_norm" in str(w.message)]
    assert "'attention' (MultiHeadAttention: it creates its kernels in EinsumDense" in message
    assert "'custom' (Scale: a custom layer" in message and "\n" not in message
    assert len(wrappers_of(normalized)) == 1
    batch = inputs((3, 4))
    np.testing.assert_allclose(to_numpy(normalized(batch)), to_numpy(model(batch)), atol=1e-5)


def test_apply_passes_data_init_and_init_style_through():
    model = keras.Sequential(
        [keras.Input((4, 3)), layers.SimpleRNN(2, return_sequences=True), layers.Dense(2)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # none for the recurrent layer
        normalized = apply_weight_norm(model, data_init=True, init_style="tfa")

    recurrent, dense = wrappers_of(normalized)
    assert (recurrent.data_init, dense.data_init) == (False, True)
    assert dense.init_style == "tfa"
    assert float(to_numpy(dense.initialized)) == 0.0  # it initializes on the first batch


def test_embeddings_are_wrapped_on_request_and_layers_already_normalized_are_kept():
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            layers.Embedding(7, 3),
            WeightNormalization(layers.Dense(2), data_init=False, name="done"),
        ]
    )
    model.get_layer("done").g.assign(np.array([0.5, 2.0], "float32"))
    tokens = np.arange(20).reshape(4, 5) % 7

    default = apply_weight_norm(model)
    on_request = apply_weight_norm(model, embeddings=True)

    assert isinstance(default.layers[0], layers.Embedding)
    assert on_request.layers[0].kernels == ("embeddings",)
    for copy in (default, on_request):
        assert len(wrappers_of(copy)) == len(wrappers_of(model)) + (copy is on_request)
        np.testing.assert_array_equal(to_numpy(copy.get_layer("done").g), [0.5, 2.0])
        np.testing.assert_allclose(to_numpy(copy(tokens)), to_numpy(model(tokens)), atol=1e-5)


def test_a_selected_layer_that_cannot_be_wrapped_is_named():
    model = keras.Sequential([keras.Input((3,)), layers.BatchNormalization(), layers.Dense(2)])
    with pytest.warns(UserWarning, match=r"'batch_normalization\w*' \(BatchNormalization: it has"):
        apply_weight_norm(model, layer_filter=lambda layer: True)


def test_a_model_with_nothing_to_wrap_is_refused():
    model = keras.Sequential([keras.Input((3,)), layers.BatchNormalization()])
    with pytest.raises(ValueError, match=r"found no layer to wrap .*Received: `model="):
        apply_weight_norm(model)


def test_remove_weight_norm_names_a_nested_subclassed_model_it_cannot_rebuild():
    x = keras.Input((3,))
    inner = Subclassed()
    inner.dense = WeightNormalization(layers.Dense(2), data_init=False)
    model = keras.Model(x, inner(x))
    with pytest.warns(
        UserWarning, match=r"kept the WeightNormalization layers inside .*'subclassed"
    ):
        remove_weight_norm(model)


def unbuilt() -> keras.Sequential:
    return keras.Sequential([layers.Dense(2)])


def built_subclassed() -> keras.Model:
    model = Subclassed()
    model(np.ones((1, 3), "float32"))
    return model


BAD_MODELS = {
    "string": (
        lambda: "model",
        r"expects a Keras Sequential or functional model\. "
        r"Received: `model='model'` \(a str\)",
    ),
    "array": (
        lambda: np.zeros((30, 30)),
        r"Received: `model=array\(\[\[0\..*\.\.\.` \(a ndarray\)",
    ),
    "layer": (lambda: layers.Dense(2), r"\(for one layer: `WeightNormalization\(layer\)`"),
    "subclassed": (
        built_subclassed,
        r"cannot rebuild subclassed model 'subclassed\w*'.*"
        r"Received: `model=Subclassed`",
    ),
    "unbuilt": (unbuilt, r"must be built first"),
}


@pytest.mark.parametrize(
    "function", [apply_weight_norm, remove_weight_norm], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("bad", BAD_MODELS)
def test_bad_models_are_refused_in_one_line(function, bad):
    make, message = BAD_MODELS[bad]
    with pytest.raises(ValueError, match=message) as error:
        function(make())
    assert "\n" not in str(error.value)
    if bad == "subclassed":  # what to do instead
        advice = "wrap its layers where" if function is apply_weight_norm else "`wrapper.remove()`"
        assert advice in str(error.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"layer_filter": "dense"}, r"`layer_filter='dense'`"),
        ({"data_init": 1}, r"`data_init=1`"),
        ({"init_style": "tf"}, r"one of 'paper', 'tfa'\. Received: `init_style='tf'`"),
        ({"embeddings": "yes"}, r"`embeddings='yes'`"),
    ],
    ids=["layer_filter", "data_init", "init_style", "embeddings"],
)
def test_bad_arguments_are_refused(arguments, message):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=message):
        apply_weight_norm(model, **arguments)
