"""`init_style="tfa"` reproduces tensorflow-addons 0.23's data-dependent init exactly.

The reference, `../shared/anchors/tfa_init_reference.npz` (written by
`make_tfa_init_reference.py` beside it, in the tfa side venv), holds a batch `x`, the five
kernels `v{i}` of the tutorial's WeightNorm ConvNet as built, and `g{i}`, `b{i}` after tfa
initialized on that batch (one `fit` step with SGD at learning rate 0), plus the model's
output `probs`. `tests/integration/test_backends.py` runs this module under JAX and PyTorch too.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from labkit._keras_compat import flatten_layers
from labkit.models import build_convnet
from labkit.weightnorm import WeightNormalization, data_init

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "tfa_init_reference.npz"
BACKEND = keras.backend.backend()
LAYERS = 5
# tfa's numbers came from TensorFlow 2.15; other kernels round differently (measured:
# 2e-6 on TensorFlow 2.21, 1.1e-5 absolute on a g of 4.1 under JAX and PyTorch).
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}

pytestmark = [
    pytest.mark.usefixtures("seeded"),
    # Keras' TensorFlow backend converts variables with a NumPy-1-style `__array__`.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    if not REFERENCE.is_file():
        pytest.skip(f"tfa reference not found at {REFERENCE}")
    with np.load(REFERENCE) as data:
        return {name: data[name] for name in data.files}


def wrappers(model: keras.Model) -> list[WeightNormalization]:
    return [layer for layer in flatten_layers(model) if isinstance(layer, WeightNormalization)]


def reference_model(reference: dict, init_style: str) -> keras.Model:
    """The tutorial's WeightNorm ConvNet with tfa's kernels, `g = ||v||`, biases zero."""
    model = build_convnet(weight_norm=True, init_style=init_style)
    for i, wrapper in enumerate(wrappers(model)):
        wrapper.layer.kernel.assign(reference[f"v{i}"])
        wrapper.reset_lengths()
    return model


def assert_matches_tfa(model: keras.Model, reference: dict) -> None:
    layers = wrappers(model)
    assert len(layers) == LAYERS
    for i, wrapper in enumerate(layers):
        g, bias = (ops.convert_to_numpy(v) for v in (wrapper.g, wrapper.layer.bias))
        np.testing.assert_allclose(g, reference[f"g{i}"], err_msg=f"g{i}", **TOLERANCE)
        np.testing.assert_allclose(bias, reference[f"b{i}"], err_msg=f"b{i}", **TOLERANCE)
    probs = ops.convert_to_numpy(model(reference["x"]))
    np.testing.assert_allclose(probs, reference["probs"], **TOLERANCE)


def test_data_init_matches_tfa_in_every_layer(reference):
    """Each layer initializes on the outputs of the initialized layers before it."""
    model = reference_model(reference, "tfa")
    data_init(model, reference["x"])
    assert_matches_tfa(model, reference)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "jax", reason="no in-fit init on JAX")
def test_init_in_fit_matches_tfa(reference):
    """tfa's own protocol: one `fit` step with SGD at learning rate 0."""
    model = reference_model(reference, "tfa")
    model.compile(keras.optimizers.SGD(0.0), "categorical_crossentropy")
    y = keras.utils.to_categorical(np.arange(32) % 10, 10)
    model.fit(reference["x"], y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert_matches_tfa(model, reference)


def test_paper_and_tfa_styles_differ_by_the_kernel_norm(reference):
    """On the first layer (same inputs): paper g = tfa g * ||v||, the same bias; tfa's
    pre-activations start with standard deviation 1/||v|| per channel, the paper's with 1."""
    x = reference["x"]
    stds = {}
    for style in ("paper", "tfa"):
        model = reference_model(reference, style)
        data_init(model, x)
        first = wrappers(model)[0]
        plain = first.remove()
        plain.activation = keras.activations.linear
        stds[style] = ops.convert_to_numpy(plain(x)).std(axis=(0, 1, 2))
        if style == "paper":
            norms = np.sqrt(np.sum(np.square(reference["v0"]), axis=(0, 1, 2)))
            g, bias = (ops.convert_to_numpy(v) for v in (first.g, first.layer.bias))
            np.testing.assert_allclose(g, reference["g0"] * norms, rtol=1e-5)
            np.testing.assert_allclose(bias, reference["b0"], **TOLERANCE)
    np.testing.assert_allclose(stds["paper"], 1.0, rtol=1e-4)
    np.testing.assert_allclose(stds["tfa"], 1.0 / norms, rtol=1e-4)


def test_init_style_is_saved_with_the_model(reference, tmp_path):
    model = reference_model(reference, "tfa")
    model.save(tmp_path / "tfa_style.keras")

    loaded = keras.models.load_model(tmp_path / "tfa_style.keras")

    assert [wrapper.init_style for wrapper in wrappers(loaded)] == ["tfa"] * LAYERS
    data_init(loaded, reference["x"])  # not yet initialized when saved: inits as tfa
    assert_matches_tfa(loaded, reference)
