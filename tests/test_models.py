"""labkit.models: the tutorial's two ConvNets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from labkit.models import build_convnet
from labkit.variants import NORMALIZATION_RUNS
from labkit.weightnorm import WeightNormalization, data_init


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


# Per normalization: the layer types that follow each Conv2D/Dense (or replace it), and the
# parameter counts on CIFAR-10 shapes (all, trainable). Every normalized model trains one
# vector of 236 = 6 + 16 + 120 + 84 + 10 entries more than the regular one.
NORMALIZED = {
    "none": ([], 62006, 62006),
    "weightnorm": ([], 62006 + 236 + 5, 62006 + 236),
    # Conv/Dense lose their biases (236); BatchNormalization adds gamma, beta, moving mean/var.
    "batchnorm": (["BatchNormalization", "Activation"], 62006 - 236 + 4 * 236, 62006 + 236),
    # Wrapped layers lose their biases; beta replaces them, g and the moving mean are added.
    "weightnorm+meanonly": (
        ["MeanOnlyBatchNormalization", "Activation"],
        62006 + 236 + 236 + 5,
        62006 + 236,
    ),
}


@pytest.mark.parametrize("normalization", NORMALIZED)
def test_each_normalization_builds_its_layers_and_parameters(normalization):
    after, total, trainable = NORMALIZED[normalization]
    model = build_convnet(normalization=normalization, input_shape=(32, 32, 3))
    assert model.name == NORMALIZATION_RUNS[normalization]
    assert model.count_params() == total
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    kinds = [type(layer).__name__ for layer in model.layers]
    weighted = "WeightNormalization" if "weightnorm" in normalization else None
    blocks = [["Conv2D"], ["Conv2D"], ["Dense"], ["Dense"], ["Dense"]]
    expected_blocks = [[weighted or block[0], *after] for block in blocks]
    pools = [["MaxPooling2D"], ["MaxPooling2D", "Flatten"], [], [], []]
    assert kinds == [kind for block, pool in zip(expected_blocks, pools) for kind in block + pool]
    if after:  # the bias moved into the normalization, the activation after it
        unwrapped = [getattr(layer, "layer", layer) for layer in model.layers]
        blocks = [layer for layer in unwrapped if hasattr(layer, "kernel")]
        assert len(blocks) == 5
        assert all(not b.use_bias and b.activation.__name__ == "linear" for b in blocks)
        assert model.layers[-1].activation.__name__ == "softmax"


def test_weight_norm_flag_is_the_weightnorm_normalization():
    for weight_norm, normalization in ((True, "weightnorm"), (False, "none")):
        shorthand = build_convnet(weight_norm=weight_norm)
        explicit = build_convnet(normalization=normalization)
        assert shorthand.name == explicit.name
        assert shorthand.count_params() == explicit.count_params()
    with_wn = build_convnet(weight_norm=True, normalization="weightnorm+meanonly")
    assert with_wn.name == "weightnorm_meanonly"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"normalization": "layernorm"},
            "Invalid value for `normalization`: expected one of 'none', 'weightnorm', "
            "'batchnorm', 'weightnorm+meanonly'. Received: `normalization='layernorm'`",
        ),
        (
            {"weight_norm": True, "normalization": "batchnorm"},
            "Invalid value for `normalization`: expected one of 'weightnorm', "
            "'weightnorm+meanonly' with `weight_norm=True`. Received: `normalization='batchnorm'`",
        ),
    ],
)
def test_bad_normalization_is_rejected(arguments, message):
    with pytest.raises(ValueError) as error:
        build_convnet(**arguments)
    assert str(error.value) == message


@pytest.mark.slow
@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("normalization", ["batchnorm", "weightnorm+meanonly"])
def test_batch_statistics_models_train_and_predict(normalization):
    """A training step uses batch statistics and updates the moving ones; data init of the
    WeightNorm layers goes through the mean-only layers (in inference mode) unchanged."""
    rng = np.random.default_rng(0)
    x = rng.random((16, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype="float32")[np.arange(16) % 10]
    model = build_convnet(normalization=normalization)
    if normalization == "weightnorm+meanonly":
        data_init(model, x)
        pre_activation = keras.ops.convert_to_numpy(model.layers[0](x))
        np.testing.assert_allclose(pre_activation.std(axis=(0, 1, 2)), 1.0, rtol=1e-3)
    moving = [layer for layer in model.layers if "moving_mean" in [w.name for w in layer.weights]]
    before = [keras.ops.convert_to_numpy(layer.moving_mean) for layer in moving]
    model.compile(keras.optimizers.SGD(0.01), "categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(layer.moving_mean) for layer in moving]
    assert len(moving) == 5 and all(not np.allclose(a, b) for a, b in zip(after, before))
    probabilities = model.predict(x[:4], verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
