"""labkit.models: the tutorial's two ConvNets."""

from __future__ import annotations

import keras
import numpy as np

from labkit.models import build_convnet
from labkit.weightnorm import WeightNormalization


def test_regular_convnet_matches_the_tutorial():
    model = build_convnet()
    assert model.name == "regular"
    assert model.count_params() == 62006
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
        "Dense",
    ]
    conv1, conv2 = model.layers[0], model.layers[2]
    assert (conv1.filters, conv1.kernel_size, conv1.activation.__name__) == (6, (5, 5), "relu")
    assert (conv2.filters, conv2.kernel_size) == (16, (5, 5))
    assert [layer.units for layer in model.layers[5:]] == [120, 84, 10]
    assert model.layers[-1].activation.__name__ == "softmax"


def test_weightnorm_convnet_wraps_every_conv_and_dense():
    model = build_convnet(weight_norm=True, data_init=False)
    assert model.name == "weightnorm"
    wrapped = [layer for layer in model.layers if isinstance(layer, WeightNormalization)]
    assert [type(layer.layer).__name__ for layer in wrapped] == ["Conv2D"] * 2 + ["Dense"] * 3
    unwrapped = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert unwrapped == []
    # One length g per output unit on top of the regular model's weights.
    assert model.count_params() == 62006 + 6 + 16 + 120 + 84 + 10 + len(wrapped)
    assert all(not layer.data_init for layer in wrapped)


def test_init_style_is_passed_to_every_wrapper():
    for init_style in ("paper", "tfa"):
        model = build_convnet(weight_norm=True, init_style=init_style)
        wrapped = [layer for layer in model.layers if isinstance(layer, WeightNormalization)]
        assert [layer.init_style for layer in wrapped] == [init_style] * 5
    assert build_convnet(weight_norm=True).layers[0].init_style == "paper"


def test_other_shapes_and_class_counts():
    model = build_convnet(num_classes=3, input_shape=(28, 28, 1), name="mnist-like")
    probabilities = model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0)
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.name == "mnist-like"
