"""labkit.load_tfa_model / load_tfa_weights on files that tensorflow-addons 0.23 really wrote.

`tests/fixtures/tfa/` holds tiny models saved by tfa (see `benchmarks/make_tfa_checkpoints.py`)
with tfa's own predictions; `../shared/data/tfa-checkpoints/` holds the tutorial's WeightNorm
ConvNet. The module also runs under the JAX and PyTorch backends (the last test).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import labkit
from labkit import WeightNormalization, load_tfa_model, load_tfa_weights

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "tfa"
SHARED = ROOT.parent / "shared" / "data" / "tfa-checkpoints"
CONVNET = "tutorial_weightnorm_convnet"
LOADABLE = [
    "conv1d",
    "conv3d",
    "dense_no_bias",
    "recurrent",
    "conv2d_transpose",
    "functional",
    "no_data_init",
]
BAKED = "ignore:Layer .* baked in"  # the Conv-Transpose warning, tested on its own below
TOLERANCE = 1e-5


@pytest.fixture(params=[*LOADABLE, CONVNET])
def checkpoint(request) -> Path:
    """Path stem of a loadable tfa checkpoint: every fixture, and the shared ConvNet."""
    if request.param == CONVNET:
        return convnet_stem()
    return FIXTURES / request.param


def convnet_stem() -> Path:
    if not (SHARED / f"{CONVNET}.h5").is_file():
        pytest.skip(f"the tfa ConvNet checkpoints are not at {SHARED}")
    return SHARED / CONVNET


def expected(stem: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(f"{stem}.expected.npz")
    return data["x"], data["probs"]


def predictions(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def wrappers(model: keras.Model) -> list[WeightNormalization]:
    return [layer for layer in model.layers if isinstance(layer, WeightNormalization)]


def saved_layer_config(path: Path, name: str) -> dict:
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    (layer,) = [entry for entry in config["config"]["layers"] if entry["config"]["name"] == name]
    return layer["config"]


def edited_copy(tmp_path: Path, stem: Path, edit) -> Path:
    """A copy of `stem.h5` whose model config or weights `edit(h5_file)` changed."""
    path = tmp_path / f"{stem.name}.h5"
    shutil.copy(f"{stem}.h5", path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def edit_config(replace: tuple[str, str]):
    def edit(f: h5py.File) -> None:
        config = f.attrs["model_config"]
        assert replace[0] in config
        f.attrs["model_config"] = config.replace(*replace)

    return edit


def set_uninitialized(f: h5py.File) -> None:
    """As if tfa saved the model before its first call: every `initialized` flag False."""
    f.visititems(lambda name, item: _clear_flag(item) if name.endswith("initialized:0") else None)


def _clear_flag(dataset: h5py.Dataset) -> None:
    dataset[()] = False


# --- loading what tfa saved ------------------------------------------------------------------


@pytest.mark.filterwarnings(BAKED)
def test_loaded_model_predicts_what_tfa_predicted(checkpoint):
    x, probs = expected(checkpoint)

    model = load_tfa_model(f"{checkpoint}.h5")

    np.testing.assert_allclose(predictions(model, x), probs, rtol=0, atol=TOLERANCE)


@pytest.mark.filterwarnings(BAKED)
@pytest.mark.parametrize("source", [".weights.h5", ".h5"])
def test_weights_load_into_an_equivalent_fresh_model(checkpoint, source):
    x, probs = expected(checkpoint)
    fresh = keras.models.clone_model(load_tfa_model(f"{checkpoint}.h5"))
    fresh.set_weights([np.zeros(w.shape, w.dtype) for w in fresh.weights])

    assert load_tfa_weights(fresh, f"{checkpoint}{source}") is fresh

    np.testing.assert_allclose(predictions(fresh, x), probs, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("source", [".weights.h5", ".h5"])
def test_convnet_weights_load_into_labkits_convnet(source):
    stem = convnet_stem()
    x, probs = expected(stem)
    model = labkit.build_convnet(weight_norm=True)

    load_tfa_weights(model, f"{stem}{source}")

    np.testing.assert_allclose(predictions(model, x), probs, rtol=0, atol=TOLERANCE)
    assert all(float(layer.initialized.numpy()) == 1.0 for layer in wrappers(model))


def test_convnet_loads_as_labkit_layers_with_the_saved_settings():
    stem = convnet_stem()
    tfa_names = json.loads(stem.with_suffix(".json").read_text())["weights"]

    model = load_tfa_model(stem.with_suffix(".h5"))

    layers = wrappers(model)
    assert [type(layer.layer).__name__ for layer in layers] == ["Conv2D"] * 2 + ["Dense"] * 3
    assert all(layer.data_init and layer.kernels == ("kernel",) for layer in layers)
    # tfa's g, kernel, bias and initialized per layer; its data_dep_init copies are skipped.
    kept = [name for name in tfa_names if "/data_dep_init/" not in name]
    assert len(kept) < len(tfa_names)
    assert len(model.weights) == len(kept)


def test_data_init_keeps_the_saved_setting():
    assert all(layer.data_init for layer in wrappers(load_tfa_model(FIXTURES / "conv1d.h5")))
    loaded = wrappers(load_tfa_model(FIXTURES / "no_data_init.h5"))
    assert loaded and not any(layer.data_init for layer in loaded)


def test_recurrent_layers_normalize_only_their_recurrent_kernel():
    path = FIXTURES / "recurrent.h5"
    model = load_tfa_model(path)
    layers = wrappers(model)
    assert [type(layer.layer).__name__ for layer in layers] == ["SimpleRNN", "GRU", "LSTM"]

    with h5py.File(path, "r") as f:
        for layer in layers:
            assert layer.kernels == ("recurrent_kernel",)
            assert not layer.data_init  # tfa's RNN data init is in the saved g already
            saved = f["model_weights"][layer.name][layer.name]
            (cell_name,) = [name for name in saved if name.endswith("_cell")]
            v = saved[cell_name]["recurrent_kernel:0"][()]
            g = saved["g:0"][()]
            plain = layer.remove()  # the kernels labkit computes with
            # The input kernel is used as saved; only the recurrent kernel is g * v / |v|.
            np.testing.assert_array_equal(
                plain.cell.kernel.numpy(), saved[cell_name]["kernel:0"][()]
            )
            norm = np.sqrt(np.sum(v**2, axis=0))
            np.testing.assert_allclose(plain.cell.recurrent_kernel.numpy(), g * v / norm, 1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["model", "weights"])
def test_fit_does_not_initialize_loaded_layers_again(loader):
    stem = FIXTURES / "conv1d"
    x, _ = expected(stem)
    if loader == "model":
        model = load_tfa_model(f"{stem}.h5")
    else:  # a fresh model, whose layers would data-init in their first training step
        model = keras.models.clone_model(load_tfa_model(f"{stem}.h5"))
        load_tfa_weights(model, f"{stem}.weights.h5")
    before = [w.numpy().copy() for w in model.weights]
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "categorical_crossentropy")

    model.fit(x, np.eye(3)[np.arange(len(x)) % 3], batch_size=len(x), verbose=0)

    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_conv_transpose_loads_baked_into_the_plain_layer_with_a_warning():
    stem = FIXTURES / "conv2d_transpose"
    x, probs = expected(stem)

    with pytest.warns(UserWarning, match=r"Layer '\w+' \(Conv2DTranspose\).*baked in") as record:
        model = load_tfa_model(f"{stem}.h5")

    (warned,) = [str(w.message) for w in record if "baked in" in str(w.message)]
    (transpose,) = [layer for layer in model.layers if "Transpose" in type(layer).__name__]
    assert type(transpose) is keras.layers.Conv2DTranspose
    assert f"'{transpose.name}'" in warned
    saved = saved_layer_config(stem.with_suffix(".h5"), transpose.name)
    assert saved["layer"]["class_name"] == "Conv2DTranspose"  # tfa wrapped it
    np.testing.assert_allclose(predictions(model, x), probs, rtol=0, atol=TOLERANCE)


def test_a_checkpoint_saved_before_tfas_first_call_loads_as_tfa_would_run_it(tmp_path):
    # data_init=False: tfa's first call sets g = |v|, so the layer computes with v itself.
    path = edited_copy(tmp_path, FIXTURES / "no_data_init", set_uninitialized)
    for layer in wrappers(load_tfa_model(path)):
        v = layer.layer.kernel.numpy()
        np.testing.assert_allclose(layer.remove().kernel.numpy(), v, rtol=1e-6, atol=1e-7)
        assert float(layer.initialized.numpy()) == 1.0
    # data_init=True: left uninitialized, for labkit's init on the first training batch, with
    # tfa's init formula.
    path = edited_copy(tmp_path, FIXTURES / "conv1d", set_uninitialized)
    loaded = wrappers(load_tfa_model(path))
    assert all(float(layer.initialized.numpy()) == 0.0 for layer in loaded)
    assert all(layer.init_style == "tfa" for layer in loaded)


# --- errors ------------------------------------------------------------------------------------


def assert_one_line(error: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(error.value)


def plain_model() -> keras.Model:
    """The Keras 3 equivalent of the `keras2_plain` fixture."""
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(3)])


@pytest.mark.parametrize("loader", ["model", "weights"])
def test_files_that_are_no_tfa_checkpoint_raise_naming_the_file(loader, tmp_path):
    model = plain_model()

    def load(path):
        return load_tfa_model(path) if loader == "model" else load_tfa_weights(model, path)

    text = tmp_path / "notes.h5"
    text.write_text("not HDF5")
    for path, message in [
        (text, "notes.h5` is not a Keras 2 checkpoint .*not an HDF5 file"),
        (FIXTURES / "not_a_checkpoint.h5", "not_a_checkpoint.h5` is not a Keras 2 checkpoint"),
    ]:
        with pytest.raises(ValueError, match=message) as error:
            load(path)
        assert_one_line(error)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load(tmp_path / "missing.h5")


def test_a_keras2_file_without_tfa_layers_points_to_keras():
    stem = FIXTURES / "keras2_plain"
    with pytest.raises(ValueError, match="keras2_plain.h5` holds no tensorflow-addons.*load_model"):
        load_tfa_model(f"{stem}.h5")
    with pytest.raises(ValueError, match="keras2_plain.weights.h5` holds no tensorflow-addons"):
        load_tfa_weights(plain_model(), f"{stem}.weights.h5")
    # What the message advises works.
    x, probs = expected(stem)
    model = keras.models.load_model(f"{stem}.h5", compile=False)
    np.testing.assert_allclose(predictions(model, x), probs, rtol=0, atol=TOLERANCE)


def test_a_layer_keras3_lacks_raises_naming_it():
    path = FIXTURES / "unmappable.h5"
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    name = config["config"]["layers"][1]["config"]["name"]

    with pytest.raises(ValueError, match=rf"Layer '{name}' .*`LocallyConnected1D`") as error:
        load_tfa_model(path)
    assert_one_line(error)


@pytest.mark.parametrize(
    ("stem", "replace", "message"),
    [
        (
            "conv1d",
            ('"GlobalAveragePooling1D"', '"Addons>Unknown"'),
            r"Layer '\w+' is a `Addons>Unknown`, which Keras 3 does not know",
        ),
        (
            "recurrent",
            ('"time_major": false', '"time_major": true'),
            r"Layer '\w+' was saved with `time_major=True`",
        ),
    ],
)
def test_layers_keras3_cannot_build_raise_naming_the_layer(tmp_path, stem, replace, message):
    path = edited_copy(tmp_path, FIXTURES / stem, edit_config(replace))

    with pytest.raises(ValueError, match=message) as error:
        load_tfa_model(path)
    assert_one_line(error)


def test_weights_into_a_model_that_is_not_equivalent_raise_naming_the_layer():
    stem = convnet_stem()
    cases = [
        (labkit.build_convnet(), r"(?i)layer '\w+' \(Conv2D\)"),
        (labkit.build_convnet(True, num_classes=5), r"Layer '\w+' \(WeightNormalization\)"),
    ]
    for model, message in cases:
        before = [w.numpy().copy() for w in model.weights]
        for source in (".weights.h5", ".h5"):
            with pytest.raises(ValueError, match=message) as error:
                load_tfa_weights(model, f"{stem}{source}")
            assert_one_line(error)
        # Every layer is checked before any is assigned: a mismatch leaves the model as it was.
        for variable, value in zip(model.weights, before):
            np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)


def test_recurrent_weights_need_tfas_kernels_setting():
    stem = FIXTURES / "recurrent"
    model = load_tfa_model(f"{stem}.h5")
    both = keras.Sequential(
        [keras.Input(model.input_shape[1:])]
        + [
            WeightNormalization(type(layer.layer).from_config(layer.layer.get_config()), False)
            if isinstance(layer, WeightNormalization)
            else type(layer).from_config(layer.get_config())
            for layer in model.layers
        ]
    )

    with pytest.raises(ValueError, match=r"kernels=\('recurrent_kernel',\)") as error:
        load_tfa_weights(both, f"{stem}.weights.h5")
    assert_one_line(error)


# --- other backends ----------------------------------------------------------------------------

# What must hold on every backend (h5py does the reading; Keras builds and assigns); the
# error paths are backend-free and run once, here.
CORE = "predicts_what_tfa or fresh_model or fit_does_not or recurrent_layers or transpose"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_module_passes_on_other_backends(backend):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("started from the TensorFlow run")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"`{backend}` is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", CORE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"under KERAS_BACKEND={backend}:\n{result.stdout[-4000:]}"
