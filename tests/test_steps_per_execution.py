"""A run at `steps_per_execution > 1`, and from uint8 images: what watches training still works.

`run_experiment` at 3 steps per call (which do not divide an epoch's 5 batches): the per-epoch
files and what a search's pruner reads from them, Stop (ends within one call), and the uint8
pipeline (the same training as from float32 images). `tests/integration/test_backends.py`
runs this module under JAX and PyTorch too; PyTorch's Keras trainer runs one step per call,
so there a value above 1 must be refused before anything trains.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from labkit.data import CIFAR10_CLASSES, Dataset
from labkit.experiment import run_experiment
from labkit.live import LivePlot
from labkit.search.trial import objective_curve

SPE, BATCH, EPOCHS = 3, 16, 3
SEVERAL_STEPS = keras.backend.backend() != "torch"
needs_several_steps = pytest.mark.skipif(not SEVERAL_STEPS, reason="PyTorch: 1 step per call")


@pytest.fixture(scope="module")
def pixels() -> Dataset:
    """80 training images (5 batches of 16) and 32 test images, uint8 as `load_data` gives."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (112, 32, 32, 3), dtype=np.uint8)
    labels = np.eye(10, dtype="float32")[np.arange(112) % 10]
    return Dataset("cifar10", images[:80], labels[:80], images[80:], labels[80:], CIFAR10_CLASSES)


def _params(**changes) -> dict:
    return {"weight_norm": True, "epochs": EPOCHS, "batch_size": BATCH, "seed": 1, **changes}


@pytest.mark.slow
@needs_several_steps
def test_per_epoch_files_and_the_pruners_input_at_several_steps_per_call(pixels, tmp_path):
    result = run_experiment(_params(steps_per_execution=SPE, output_dir=str(tmp_path)), data=pixels)
    assert result.status == "completed" and result.epochs_completed == EPOCHS
    assert result.compiled["steps_per_execution"] == SPE
    # Every epoch trained on its own 5 batches: none lost, none taken from the next epoch.
    assert int(result.model.optimizer.iterations.numpy()) == EPOCHS * 5
    folder = tmp_path / "weightnorm"
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["epochs_completed"] == EPOCHS and saved["compiled"] == result.compiled
    assert (folder / "history.csv").read_text().count("\n") == EPOCHS + 1
    # A search prunes on this curve, read from the file after every epoch.
    assert objective_curve(folder, "val_accuracy") == result.history["val_accuracy"]


class _PressStop(keras.callbacks.Callback):
    """Presses the LivePlot's Stop (as the panel's button does) at the first batch end."""

    def __init__(self, live: LivePlot):
        super().__init__()
        self.live = live

    def on_train_batch_end(self, batch, logs=None):
        self.live.stop()


@pytest.mark.slow
@needs_several_steps
def test_stop_ends_the_run_within_one_call(pixels):
    live = LivePlot(mode="off")
    result = run_experiment(
        _params(steps_per_execution=SPE), callbacks=[_PressStop(live), live], data=pixels
    )
    assert result.status == "stopped"
    assert int(result.model.optimizer.iterations.numpy()) == SPE  # the one call under way
    assert live.last_run.state == "stopped"


@pytest.mark.slow
def test_uint8_images_train_exactly_as_their_floats(pixels):
    floats = Dataset(
        "cifar10",
        pixels.x_train.astype("float32") / 255,
        pixels.y_train,
        pixels.x_test.astype("float32") / 255,
        pixels.y_test,
        CIFAR10_CLASSES,
    )
    spe = SPE if SEVERAL_STEPS else 1
    params = _params(weight_norm=False, epochs=1, steps_per_execution=spe)
    assert (
        run_experiment(params, data=pixels).history == run_experiment(params, data=floats).history
    )


@pytest.mark.skipif(SEVERAL_STEPS, reason="only PyTorch refuses several steps per call")
def test_pytorch_refuses_several_steps_per_call_before_training(pixels, monkeypatch):
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="`steps_per_execution`"):
        run_experiment(_params(steps_per_execution=SPE), data=pixels)
