"""labkit.paper.init: the authors' data-dependent init, on 500 examples, in training mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from labkit.meanonly import MeanOnlyBatchNormalization
from labkit.paper.init import PAPER_INIT_EXAMPLES, paper_data_init
from labkit.paper.model import build_paper_convnet
from labkit.paper.scale import InitScale
from labkit.weightnorm import WeightNormalization

SHAPE = (16, 16, 3)
# The layers whose outputs the init normalizes, per normalization (the pre-activations).
NORMALIZED = {
    "none": InitScale,
    "weightnorm": WeightNormalization,
    "weightnorm+meanonly": MeanOnlyBatchNormalization,
}


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(PAPER_INIT_EXAMPLES, *SHAPE)).astype("float32")


def _values(model) -> list[np.ndarray]:
    return [ops.convert_to_numpy(variable.value).copy() for variable in model.weights]


@pytest.mark.parametrize("normalization", list(NORMALIZED))
def test_every_pre_activation_starts_with_zero_mean_and_unit_variance(normalization, batch):
    # Without noise and dropout the training-mode pass is deterministic: each normalized layer
    # then gives every channel mean 0 and variance 1 over the 500 images.
    model = build_paper_convnet(normalization, input_shape=SHAPE, noise_stddev=0, dropout_rate=0)
    paper_data_init(model, batch)
    layers = [layer for layer in model.layers if isinstance(layer, NORMALIZED[normalization])]
    if normalization == "weightnorm+meanonly":  # the init pass left the moving means alone
        moving = [ops.convert_to_numpy(layer.moving_mean) for layer in layers]
        assert all((value == 0).all() for value in moving)
    outputs = keras.Model(model.inputs, [layer.output for layer in layers])(batch, training=True)
    assert len(outputs) == 10
    for output in outputs:
        output = ops.convert_to_numpy(output).reshape(-1, output.shape[-1])
        np.testing.assert_allclose(output.mean(axis=0), 0.0, atol=2e-3)
        np.testing.assert_allclose(output.std(axis=0), 1.0, atol=2e-3)


def test_the_init_pass_runs_with_dropout_on_as_the_authors_code_does(batch):
    """Dropout doubles what it keeps, so the layer after each dropout sees a larger variance in
    training, and the init gives it a smaller scale (1/sqrt(2) or less) than without dropout;
    the layers before the first dropout get the same scale either way."""
    scales = {}
    for rate in (0.0, 0.5):
        keras.utils.set_random_seed(0)  # the same initial kernels
        model = build_paper_convnet("none", input_shape=SHAPE, noise_stddev=0, dropout_rate=rate)
        paper_data_init(model, batch)
        layers = [layer for layer in model.layers if isinstance(layer, InitScale)]
        scales[rate] = [ops.convert_to_numpy(layer.scale).mean() for layer in layers]
    ratios = np.array(scales[0.5]) / np.array(scales[0.0])
    np.testing.assert_allclose(ratios[:3], 1.0, rtol=1e-5)
    assert ratios[3] < 0.85 and ratios[6] < 0.85, ratios


def test_the_batchnorm_model_is_left_as_it_was(batch):
    """The authors do not initialize batch normalization from data."""
    model = build_paper_convnet("batchnorm", input_shape=SHAPE)
    before = _values(model)
    assert paper_data_init(model, batch) is model
    for old, new in zip(before, _values(model)):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("normalization", ["none", "weightnorm+meanonly"])
def test_a_refused_batch_leaves_the_model_as_it_was(normalization, batch):
    model = build_paper_convnet(normalization, input_shape=SHAPE)
    before = _values(model)
    bad = batch[:20].copy()
    bad[3, 4, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf") as error:
        paper_data_init(model, bad)
    assert "\n" not in str(error.value)
    for old, new in zip(before, _values(model)):
        np.testing.assert_array_equal(old, new)


def test_a_run_initializes_from_500_training_images(small_whitened, monkeypatch):
    """`run_paper_experiment` hands the init `init_examples` (500) distinct training images."""
    from labkit.paper import experiment

    seen = {}

    class Seen(Exception):
        pass

    def record(model, x_batch):
        seen["batch"] = np.asarray(x_batch)
        raise Seen

    monkeypatch.setattr(experiment, "paper_data_init", record)
    with pytest.raises(Seen):
        experiment.run_paper_experiment({"normalization": "weightnorm"}, data=small_whitened)
    x_train = small_whitened.x_train.reshape(len(small_whitened.x_train), -1)
    rows = seen["batch"].reshape(len(seen["batch"]), -1)
    assert len(rows) == 500 == PAPER_INIT_EXAMPLES
    assert len({row.tobytes() for row in rows}) == 500
    assert {row.tobytes() for row in rows} <= {row.tobytes() for row in x_train}
