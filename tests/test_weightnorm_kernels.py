"""Conformance of `WeightNormalization` on every supported layer type, on the active backend.

Each case is a plain layer (or a Keras wrapper around one), weight-normalized with
`apply_weight_norm` as a user would. Every case gets the same checks: the wrapped layer
computes what the plain one did (`g = ||v||`); its symbolic call, eager call and
`compute_output_shape` agree with the plain layer's; scaling one output unit's `v` by a
positive constant changes nothing (and scaling its `g` does); its config round-trips; a
training step moves every `g` and `v`; `.keras` and `.weights.h5` files load back with the
same config and weights; under `mixed_bfloat16` it computes in bfloat16 from float32 lengths
and kernels; `remove_weight_norm` gives the plain layer back. Data init normalizes every
unit's pre-activation on the new layer types where it is meaningful (`tests/test_weightnorm.py`
covers Dense and the convolutions), and turns itself off where it is not.

All cases are branches of one functional model (one input and one output each), so that each
check costs one forward pass or one compiled step for all of them: the whole module runs in
seconds on every backend. `tests/integration/test_backends.py` runs it under JAX and PyTorch.
"""

from __future__ import annotations

import copy
import doctest
import json
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops

from labkit._keras_compat import flatten_layers
from labkit.weightnorm import (
    WeightNormalization,
    apply_weight_norm,
    data_init,
    initialization,
    kernels,
    remove_weight_norm,
)
from labkit.weightnorm.kernels import SUPPORTED_LAYERS, own_rule

BACKEND = keras.backend.backend()
IN_FIT_INIT = BACKEND in ("tensorflow", "torch")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.usefixtures("seeded"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

# Kernels start at zero and get random values from NumPy (`random_weights`): the same on
# every backend, and JAX compiles no random initializer for each kernel shape.
ZEROS = {"kernel_initializer": "zeros"}
RNN_ZEROS = {**ZEROS, "recurrent_initializer": "zeros"}
DEPTHWISE_ZEROS = {"depthwise_initializer": "zeros"}
SEPARABLE_ZEROS = {**DEPTHWISE_ZEROS, "pointwise_initializer": "zeros"}


class Case:
    """A plain layer to weight-normalize (`make(name=...)`), the shape of one example, and
    the vocabulary size when its inputs are token ids."""

    def __init__(self, make: Callable[..., layers.Layer], shape: tuple, tokens: int = 0):
        self.make, self.shape, self.tokens = make, shape, tokens

    def inputs(self, batch: int = 8, seed: int = 0) -> np.ndarray:
        if self.tokens:  # every token appears, so every row of the table is used
            return (np.arange(batch * np.prod(self.shape)) % self.tokens).reshape(
                batch, *self.shape
            )
        rng = np.random.default_rng(seed)
        return (2.0 * rng.standard_normal((batch, *self.shape)) + 0.5).astype("float32")


# Input channels differ from output units, so that a wrong normalization axis cannot pass.
CASES: dict[str, Case] = {
    "Dense": Case(lambda **k: layers.Dense(3, activation="tanh", **ZEROS, **k), (4,)),
    "EinsumDense": Case(
        lambda **k: layers.EinsumDense("abc,cde->abde", (None, 3, 2), "relu", "de", **ZEROS, **k),
        (2, 4),
    ),
    "Conv1D": Case(lambda **k: layers.Conv1D(3, 2, padding="causal", **ZEROS, **k), (5, 2)),
    "Conv2D": Case(
        lambda **k: layers.Conv2D(3, 2, strides=2, activation="relu", **ZEROS, **k), (4, 4, 2)
    ),
    "Conv3D": Case(lambda **k: layers.Conv3D(2, 2, use_bias=False, **ZEROS, **k), (3, 3, 3, 3)),
    "Conv1DTranspose": Case(
        lambda **k: layers.Conv1DTranspose(3, 2, strides=2, **ZEROS, **k), (3, 2)
    ),
    "Conv2DTranspose": Case(
        lambda **k: layers.Conv2DTranspose(3, 2, padding="same", **ZEROS, **k), (3, 3, 2)
    ),
    "Conv3DTranspose": Case(lambda **k: layers.Conv3DTranspose(2, 2, **ZEROS, **k), (2, 2, 2, 3)),
    "DepthwiseConv1D": Case(
        lambda **k: layers.DepthwiseConv1D(2, depth_multiplier=2, **DEPTHWISE_ZEROS, **k), (5, 3)
    ),
    "DepthwiseConv2D": Case(
        lambda **k: layers.DepthwiseConv2D(2, depth_multiplier=2, **DEPTHWISE_ZEROS, **k),
        (4, 4, 3),
    ),
    "SeparableConv1D": Case(
        lambda **k: layers.SeparableConv1D(3, 2, depth_multiplier=2, **SEPARABLE_ZEROS, **k),
        (5, 2),
    ),
    "SeparableConv2D": Case(
        lambda **k: layers.SeparableConv2D(3, 2, activation="relu", **SEPARABLE_ZEROS, **k),
        (4, 4, 2),
    ),
    "SimpleRNN": Case(
        lambda **k: layers.SimpleRNN(3, return_sequences=True, **RNN_ZEROS, **k), (4, 2)
    ),
    "GRU": Case(lambda **k: layers.GRU(3, **RNN_ZEROS, **k), (4, 2)),
    "LSTM": Case(lambda **k: layers.LSTM(3, **RNN_ZEROS, **k), (4, 2)),
    "ConvLSTM1D": Case(lambda **k: layers.ConvLSTM1D(2, 2, **RNN_ZEROS, **k), (3, 4, 2)),
    "ConvLSTM2D": Case(lambda **k: layers.ConvLSTM2D(2, 2, **RNN_ZEROS, **k), (2, 3, 3, 2)),
    "ConvLSTM3D": Case(lambda **k: layers.ConvLSTM3D(2, 2, **RNN_ZEROS, **k), (2, 2, 2, 2, 1)),
    "Embedding": Case(
        lambda **k: layers.Embedding(7, 3, embeddings_initializer="zeros", **k), (5,), tokens=7
    ),
    "TimeDistributed(Conv2D)": Case(
        lambda **k: layers.TimeDistributed(layers.Conv2D(3, 2, **ZEROS), **k), (2, 3, 3, 2)
    ),
    "Bidirectional(LSTM)": Case(
        lambda **k: layers.Bidirectional(layers.LSTM(2, return_sequences=True, **RNN_ZEROS), **k),
        (4, 2),
    ),
}
# Data-dependent init is not meaningful there (the wrapper warns and turns it off).
NO_DATA_INIT = ("SimpleRNN", "GRU", "LSTM", "ConvLSTM", "Embedding", "Bidirectional")


def layer_name(case: str) -> str:
    return re.sub(r"\W", "_", case)


def to_numpy(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x)).astype("float32")


def forward(model: keras.Model, x: list) -> list[np.ndarray]:
    """The model's outputs: eager on TensorFlow and PyTorch; compiled once on JAX, where
    each eager op would be compiled for its shapes."""
    outputs = model.predict_on_batch(x) if BACKEND == "jax" else model(x)
    return [to_numpy(out) for out in outputs]


def random_weights(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])
    return model


def plain_model(seed: int = 0, names: Sequence[str] = tuple(CASES)) -> keras.Model:
    """Each case (of `names`) as one branch: an input and a layer named after the case."""
    cases = [(name, CASES[name]) for name in names]
    inputs = [
        keras.Input(c.shape, dtype="int32" if c.tokens else "float32", name=f"x_{layer_name(n)}")
        for n, c in cases
    ]
    outputs = [c.make(name=layer_name(n))(x) for (n, c), x in zip(cases, inputs)]
    return random_weights(keras.Model(inputs, outputs), seed)


def normalize(model: keras.Model, **kwargs) -> keras.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no data init for recurrent layers
        return apply_weight_norm(model, embeddings=True, **kwargs)


def wrappers_of(model: keras.Model, case: str | None = None) -> list[WeightNormalization]:
    top = model if case is None else model.get_layer(layer_name(case))
    return [layer for layer in flatten_layers(top) if isinstance(layer, WeightNormalization)]


def inputs_for(batch: int = 8, seed: int = 0, names: Sequence[str] = tuple(CASES)) -> list:
    return [CASES[name].inputs(batch, seed) for name in names]


def fit_once(model: keras.Model, x: list, learning_rate: float = 0.05):
    y = [np.ones(out.shape, "float32") for out in forward(model, x)]
    model.compile(
        keras.optimizers.SGD(learning_rate), ["mse"] * len(y), run_eagerly=BACKEND != "jax"
    )
    return model.fit(x, y, batch_size=len(x[0]), epochs=1, shuffle=False, verbose=0)


@pytest.fixture(scope="module")
def x() -> list[np.ndarray]:
    return inputs_for()


@pytest.fixture(scope="module")
def plain() -> keras.Model:
    return plain_model()


@pytest.fixture(scope="module")
def normalized(plain) -> keras.Model:
    return normalize(plain)


@pytest.fixture(scope="module")
def outputs(plain, normalized, x) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per case: (the plain branch's output, the normalized branch's output)."""
    return dict(zip(CASES, zip(forward(plain, x), forward(normalized, x))))


@pytest.fixture(params=list(CASES))
def case(request) -> str:
    return request.param


# --- the layer computes what the plain layer did, from g and the direction of v ---------------


def test_wrapping_keeps_the_outputs(case, normalized, outputs):
    expected, actual = outputs[case]
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    wrappers = wrappers_of(normalized, case)
    assert len(wrappers) == (2 if "Bidirectional" in case else 1)
    if "(" in case:  # the wrapper sits inside Keras' wrapper, as users write it
        assert type(normalized.get_layer(layer_name(case))).__name__ == case.split("(")[0]
    for wrapper in wrappers:  # g = ||v||, one entry per output unit
        for g, kernel, name in zip(wrapper.lengths, wrapper.kernel_variables, wrapper.kernels):
            assert g.dtype == "float32"
            np.testing.assert_allclose(to_numpy(g), to_numpy(wrapper.kernel_norm(kernel, name)))


def test_symbolic_and_eager_calls_agree(case, plain, normalized, outputs):
    """The symbolic output (the functional graph), the eager output and
    `compute_output_shape` agree with each other and with the plain layer's."""
    index = list(CASES).index(case)
    layer = normalized.get_layer(layer_name(case))
    symbolic, eager = normalized.outputs[index], outputs[case][1]
    input_shape = (8, *CASES[case].shape)

    assert tuple(symbolic.shape) == tuple(plain.outputs[index].shape)
    assert all(s in (None, e) for s, e in zip(symbolic.shape, eager.shape))
    assert len(symbolic.shape) == eager.ndim
    computed = tuple(layer.compute_output_shape(input_shape))
    assert computed == tuple(plain.get_layer(layer_name(case)).compute_output_shape(input_shape))
    assert (
        all(c in (None, e) for c, e in zip(computed, eager.shape)) and len(computed) == eager.ndim
    )
    dtype = keras.backend.standardize_dtype
    assert dtype(symbolic.dtype) == dtype(plain.outputs[index].dtype)


@pytest.fixture(scope="module")
def unit_scaling(normalized, x) -> dict[str, list[tuple[str, float, float]]]:
    """Per case, per normalized kernel: `(kernel name, output change when one unit's v is
    multiplied by 3.7, output change when that unit's g is)`. All layers at once, kernel by
    kernel; the weights are put back afterwards."""
    before = forward(normalized, x)
    found: dict[str, list] = {case: [] for case in CASES}
    for index in range(2):  # the first kernel of every layer, then the second
        changed = [
            (case, wrapper)
            for case in CASES
            for wrapper in wrappers_of(normalized, case)
            if index < len(wrapper.kernels)
        ]
        saved = [
            (v, to_numpy(v))
            for _, w in changed
            for v in (w.kernel_variables[index], w.lengths[index])
        ]
        for _, wrapper in changed:
            v = to_numpy(wrapper.kernel_variables[index])
            v[last_unit(wrapper, index)] *= 3.7
            wrapper.kernel_variables[index].assign(v)
        after_v = forward(normalized, x)
        for _, wrapper in changed:
            g = to_numpy(wrapper.lengths[index])
            g.reshape(-1)[-1] *= 3.7  # the same (last) unit
            wrapper.lengths[index].assign(g)
        after_g = forward(normalized, x)
        for variable, value in saved:
            variable.assign(value)
        for case, wrapper in dict(changed).items():  # one entry per case (Bidirectional: 2)
            k = list(CASES).index(case)
            found[case].append(
                (
                    wrapper.kernels[index],
                    float(np.max(np.abs(after_v[k] - before[k]))),
                    float(np.max(np.abs(after_g[k] - before[k]))),
                )
            )
    return found


def last_unit(wrapper: WeightNormalization, index: int) -> tuple:
    """The index of the last output unit of kernel `index`, slicing every other axis."""
    kernel, axes = wrapper.kernel_variables[index], wrapper.unit_axes(wrapper.kernels[index])
    return tuple(n - 1 if a in axes else slice(None) for a, n in enumerate(kernel.shape))


def test_scaling_a_units_direction_changes_nothing(case, normalized, unit_scaling):
    """The defining property: `w` depends on `v` only through `v / ||v||`, per unit."""
    results = unit_scaling[case]
    assert [name for name, _, _ in results] == list(wrappers_of(normalized, case)[0].kernels)
    for name, v_change, g_change in results:
        assert v_change < 2e-5, f"scaling one unit of `{name}` changed the output by {v_change}"
        assert g_change > 1e-3, f"scaling that unit's g left the output unchanged ({name})"


# --- training, saving, mixed precision -------------------------------------------------------


@pytest.fixture(scope="module")
def reloaded(normalized, outputs, unit_scaling, removed, tmp_path_factory):
    """`normalized` (once the checks of its initial state are done), its lengths changed so
    that `w` differs from `v`, loaded back from a `.keras` file, and a copy given its weights
    from a `.weights.h5` file."""
    for wrapper in wrappers_of(normalized):
        for g in wrapper.lengths:
            g.assign(to_numpy(g) * np.linspace(0.5, 1.5, g.shape[-1]))
    folder = tmp_path_factory.mktemp("saved")
    normalized.save(folder / "all.keras")
    normalized.save_weights(folder / "all.weights.h5")
    copy_ = keras.models.clone_model(normalized)  # the same layers, fresh weights
    copy_.load_weights(folder / "all.weights.h5")
    return keras.models.load_model(folder / "all.keras"), copy_


def test_saving_and_loading_restores_config_and_weights(case, normalized, reloaded):
    """Same config, same weights (`tests/test_weightnorm.py` compares the predictions of a
    trained model and its optimizer state)."""
    layer = normalized.get_layer(layer_name(case))
    loaded, copy_ = reloaded
    assert serialized(loaded.get_layer(layer_name(case))) == serialized(layer)
    for restored in (loaded, copy_):
        twin = restored.get_layer(layer_name(case))
        assert type(twin) is type(layer)
        for ours, theirs in zip(layer.weights, twin.weights, strict=True):
            assert ours.name == theirs.name
            np.testing.assert_array_equal(to_numpy(theirs), to_numpy(ours))


@pytest.fixture(scope="module")
def trained(normalized, reloaded, x):
    """`normalized` after one SGD step (once the other checks are done: its compiled
    forward pass serves them all), with its weights before that step."""
    before = {id(w): to_numpy(w) for w in normalized.weights}
    history = fit_once(normalized, x)
    return normalized, before, history


@pytest.mark.slow
def test_a_training_step_moves_every_g_and_v(case, trained):
    model, before, history = trained
    assert np.isfinite(history.history["loss"]).all()
    for wrapper in wrappers_of(model, case):
        for variable in (*wrapper.lengths, *wrapper.kernel_variables):
            assert not np.array_equal(to_numpy(variable), before[id(variable)]), variable.path


def serialized(layer: layers.Layer) -> dict:
    """The layer's config as it is written to a file (tuples become lists)."""
    return json.loads(json.dumps(keras.saving.serialize_keras_object(layer)["config"]))


def test_a_config_round_trip_rebuilds_every_case(case, normalized):
    layer = normalized.get_layer(layer_name(case))
    config = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(copy.deepcopy(config))  # Keras pops keys
    assert type(clone) is type(layer)
    assert serialized(clone) == serialized(layer)
    assert [type(w) for w in wrappers_of(clone)] == [type(w) for w in wrappers_of(layer)]


@pytest.fixture(scope="module")
def mixed_precision(x) -> tuple[keras.Model, list[np.ndarray]]:
    """The normalized model under `mixed_bfloat16` (same weights as `plain`), and its outputs."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = normalize(plain_model())
        return model, forward(model, x)
    finally:
        keras.config.set_dtype_policy(policy)


def test_mixed_precision_computes_in_the_compute_dtype(case, mixed_precision, outputs):
    """Lengths and kernels stay float32 (norms are taken in float32); the layer computes in
    bfloat16, close to its float32 outputs. (`tests/test_weightnorm.py` trains in mixed
    precision.)"""
    model, results = mixed_precision
    k = list(CASES).index(case)
    expected = outputs[case][0]
    assert np.isfinite(results[k]).all()
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(results[k], expected, atol=0.05 * scale)
    for wrapper in wrappers_of(model, case):
        assert wrapper.layer.compute_dtype == "bfloat16"
        for g, v in zip(wrapper.lengths, wrapper.kernel_variables):
            assert g.dtype == v.dtype == "float32"


# --- removal and data-dependent init -------------------------------------------------------


@pytest.fixture(scope="module")
def removed(normalized, plain, x):
    """`remove_weight_norm` of the normalized model with its lengths changed (so that `w`
    differs from `v`), its outputs, and the normalized model's (put back afterwards)."""
    lengths = [(g, to_numpy(g)) for wrapper in wrappers_of(normalized) for g in wrapper.lengths]
    for g, value in lengths:
        g.assign(value * np.linspace(0.5, 1.5, value.shape[-1]))
    expected = forward(normalized, x)
    model = remove_weight_norm(normalized)
    for g, value in lengths:
        g.assign(value)
    # The same architecture as `plain`, whose compiled forward pass computes it.
    weights = plain.get_weights()
    plain.set_weights(model.get_weights())
    outputs = forward(plain, x)
    plain.set_weights(weights)
    return model, outputs, expected


def test_remove_weight_norm_gives_the_plain_layer_back(case, plain, removed):
    model, outputs, expected = removed
    layer = model.get_layer(layer_name(case))
    assert wrappers_of(layer) == []
    assert serialized(layer) == serialized(plain.get_layer(layer_name(case)))
    k = list(CASES).index(case)
    np.testing.assert_allclose(outputs[k], expected[k], rtol=1e-5, atol=1e-5)


# The layer types with data init that `tests/test_weightnorm.py` does not cover already.
DATA_INIT_CASES = [
    "EinsumDense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "TimeDistributed(Conv2D)",
]


@pytest.fixture(scope="module")
def initialized() -> tuple[keras.Model, list[np.ndarray]]:
    """A weight-normalized model of `DATA_INIT_CASES` after `data_init`, and its
    pre-activations: a plain copy with the kernels baked in and every activation linear."""
    x = inputs_for(16, seed=1, names=DATA_INIT_CASES)
    model = normalize(plain_model(names=DATA_INIT_CASES), data_init=True)
    data_init(model, x)
    baked = remove_weight_norm(model)
    for layer in flatten_layers(baked):
        if hasattr(layer, "activation"):
            layer.activation = keras.activations.linear
    return model, forward(baked, x)


@pytest.mark.parametrize("case", DATA_INIT_CASES)
def test_data_init_normalizes_every_units_preactivation(case, initialized):
    model, preactivations = initialized
    (wrapper,) = wrappers_of(model, case)
    assert float(to_numpy(wrapper.initialized)) == 1.0
    t = preactivations[DATA_INIT_CASES.index(case)]
    if "TimeDistributed" in case:  # every time step counts
        t = t.reshape(-1, *t.shape[2:])
    g_shape = tuple(wrapper.lengths[-1].shape)  # the output kernel's
    units = to_numpy(own_rule(wrapper.layer).units_last(wrapper.layer, t, g_shape))
    units = units.astype("float64")
    np.testing.assert_allclose(units.var(axis=0), 1.0, rtol=2e-3)
    if getattr(wrapper.layer, "bias", None) is not None:
        np.testing.assert_allclose(units.mean(axis=0), 0.0, atol=1e-4)


@pytest.mark.parametrize("case", [c for c in CASES if any(n in c for n in NO_DATA_INIT)])
def test_data_init_is_turned_off_where_it_is_not_meaningful(case):
    layer = CASES[case].make()
    inner = getattr(layer, "forward_layer", layer)
    kernels_ = ("embeddings",) if CASES[case].tokens else None
    with pytest.warns(UserWarning, match="data-dependent init is not supported"):
        wrapper = WeightNormalization(inner, kernels=kernels_)
    assert wrapper.data_init is False


@pytest.mark.slow
@pytest.mark.skipif(not IN_FIT_INIT, reason=f"No automatic in-fit init on {BACKEND}")
def test_in_fit_data_init_matches_the_explicit_one():
    """The first training step initializes each layer as `data_init` does on that batch
    (inside `TimeDistributed`: on the first time step of that batch)."""
    x = inputs_for(8, seed=2, names=DATA_INIT_CASES)
    model = normalize(plain_model(names=DATA_INIT_CASES), data_init=True)
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    first_step = [np.repeat(xi[:, :1], xi.shape[1], axis=1) for xi in x]  # same statistics
    names = DATA_INIT_CASES
    data_init(reference, [f if "Time" in n else xi for n, xi, f in zip(names, x, first_step)])

    fit_once(model, x, learning_rate=0.0)

    for ours, theirs in zip(wrappers_of(model), wrappers_of(reference)):
        assert float(to_numpy(ours.initialized)) == 1.0
        for a, b in zip(ours.weights, theirs.weights):
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-4, atol=1e-5)


# --- the table and the rules ---------------------------------------------------------------


def test_every_supported_layer_has_a_case_and_a_row_in_the_layer_guide():
    guide = (ROOT / "docs" / "layer.md").read_text()
    table = guide[guide.index("| layer | normalized variables") :]
    table = table[: table.index("\n\n")]
    for cls in SUPPORTED_LAYERS:
        assert cls.__name__ in CASES, f"{cls.__name__} has no conformance case"
        assert f"`{cls.__name__}`" in table, (
            f"{cls.__name__} is missing from the table in docs/layer.md"
        )


@pytest.mark.parametrize("module", [kernels, initialization], ids=lambda m: m.__name__)
def test_module_examples_run(module):
    globs = {"keras": keras, "np": np, "ops": ops}
    results = doctest.testmod(module, extraglobs=globs, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0
