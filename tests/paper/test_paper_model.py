"""labkit.paper.model: the paper's ConvNet, layer by layer as the authors' code builds it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.paper.model import (
    AUTHORS_LAYERS,
    authors_parameter_counts,
    build_paper_convnet,
    parameter_counts,
)
from labkit.paper.scale import InitScale
from labkit.variants import NORMALIZATIONS
from labkit.weightnorm import WeightNormalization

# The authors' parameters, by hand from train.py and nn.py: the kernels of the ten layers,
# then one vector of 1,450 entries (96 x 3 + 192 x 6 + 10 output channels) per weight their
# normalizer adds: (trainable, not trainable).
KERNELS = 3 * 96 * 9 + 2 * 96 * 96 * 9 + 96 * 192 * 9 + 3 * 192 * 192 * 9 + 2 * 192 * 192 + 1920
AUTHORS = {
    "none": (KERNELS + 1450, 1450),  # W, b; the fixed g
    "weightnorm": (KERNELS + 2 * 1450, 0),  # V, g, b
    "batchnorm": (KERNELS + 2 * 1450, 2 * 1450),  # W, g, b; moving mean and variance
    "weightnorm+meanonly": (KERNELS + 2 * 1450, 1450),  # V, g, b; moving mean
}


LINEAR = (keras.layers.Conv2D, keras.layers.Dense)


def _count(variables) -> int:
    return sum(int(np.prod(variable.shape)) for variable in variables)


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    return {normalization: build_paper_convnet(normalization) for normalization in NORMALIZATIONS}


def test_the_shapes_follow_the_papers_table(models):
    for model in models.values():
        assert model.output_shape == (None, 10)
        spatial = [
            layer.output.shape[1]
            for layer in model.layers
            if isinstance(getattr(layer, "layer", layer), keras.layers.Conv2D)
        ]
        assert spatial == [32, 32, 32, 16, 16, 16, 6, 6, 6]
        pooled = [layer.output.shape[1:] for layer in _kinds(model, keras.layers.MaxPooling2D)]
        assert pooled == [(16, 16, 96), (8, 8, 192)]


def test_parameter_counts_match_the_authors_code(models):
    assert KERNELS == 1_405_344
    for normalization, model in models.items():
        trainable, fixed = AUTHORS[normalization]
        assert authors_parameter_counts(normalization) == (trainable, fixed)
        assert _count(model.trainable_weights) == trainable
        # labkit's WeightNormalization keeps one `initialized` flag per layer; nothing else differs.
        flags = 10 if "weightnorm" in normalization else 0
        assert _count(model.non_trainable_weights) == fixed + flags
    table = parameter_counts()
    assert (table["trainable"] == table["authors_trainable"]).all()
    assert table["extra"].tolist() == [0, 10, 0, 10]
    assert len(AUTHORS_LAYERS) == 10


def _kinds(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_every_conv_and_dense_layer_carries_the_normalization(models):
    for normalization, model in models.items():
        noise = _kinds(model, keras.layers.GaussianNoise)
        assert len(noise) == 1 and noise[0].stddev == 0.15
        assert [layer.rate for layer in _kinds(model, keras.layers.Dropout)] == [0.5, 0.5]
        relus = _kinds(model, keras.layers.LeakyReLU)
        assert len(relus) == 9 and {layer.negative_slope for layer in relus} == {0.1}
        wrapped = _kinds(model, WeightNormalization)
        linear = [getattr(layer, "layer", layer) for layer in model.layers]
        linear = [
            layer
            for layer in linear
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
        ]
        assert len(linear) == 10
        initializers = {type(layer.kernel_initializer).__name__ for layer in linear}
        if normalization == "none":
            assert initializers == {"GlorotUniform"} and len(_kinds(model, InitScale)) == 10
            assert not any(layer.use_bias for layer in linear)
        else:
            assert initializers == {"RandomNormal"}
            assert {layer.kernel_initializer.stddev for layer in linear} == {0.05}
        if normalization == "weightnorm":
            assert len(wrapped) == 10 and all(layer.use_bias for layer in linear)
            assert {layer.init_style for layer in wrapped} == {"paper"}
        if normalization == "batchnorm":
            norms = _kinds(model, keras.layers.BatchNormalization)
            assert len(norms) == 10 and not any(layer.use_bias for layer in linear)
            assert {(layer.momentum, layer.epsilon) for layer in norms} == {(0.9, 1e-6)}
        if normalization == "weightnorm+meanonly":
            means = _kinds(model, MeanOnlyBatchNormalization)
            assert len(wrapped) == 10 and len(means) == 10
            assert {layer.momentum for layer in means} == {0.9}
            assert not any(layer.use_bias for layer in linear)


def test_the_model_returns_logits_and_names_itself_after_the_run(models):
    assert [model.name for model in models.values()] == [
        "regular", "weightnorm", "batchnorm", "weightnorm_meanonly",
    ]  # fmt: skip
    assert isinstance(models["none"].layers[-1], InitScale)  # no softmax after the last layer


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"normalization": "layernorm"}, "`normalization`: expected one of 'none'"),
        ({"input_shape": (8, 8, 3)}, "`input_shape`: expected"),
        ({"dropout_rate": 1.0}, r"`dropout_rate`: expected a number in \[0, 1\)"),
    ],
)
def test_bad_arguments_fail_with_one_line(arguments, message):
    with pytest.raises(ValueError, match=message) as error:
        build_paper_convnet(**arguments)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("normalization", ["none", "weightnorm+meanonly"])
def test_a_saved_model_loads_with_its_layers(normalization, tmp_path, seeded):
    model = build_paper_convnet(normalization, input_shape=(12, 12, 3))
    x = np.random.default_rng(0).normal(size=(4, 12, 12, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
