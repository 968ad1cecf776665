"""labkit.experiment: parameter validation, the runner, and results on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import pandas as pd
import pytest

from labkit.data import Dataset
from labkit.experiment import run_experiment, run_experiments
from labkit.notebook_contract import tutorial_runs, validate_notebook_parameters
from labkit.params import MAX_SEED, ExperimentParams
from labkit.weightnorm import WeightNormalization

TINY = {"epochs": 3, "batch_size": 50, "train_limit": 0, "test_limit": 0}


@pytest.fixture(scope="module")
def tiny_data(random_cifar10) -> Dataset:
    return random_cifar10


@pytest.mark.parametrize(
    ("changes", "received"),
    [
        ({"batch_size": 0}, "`batch_size=0`"),
        ({"epochs": 2.5}, "`epochs=2.5`"),
        ({"epochs": True}, "`epochs=True`"),
        ({"learning_rate": -1.0}, "`learning_rate=-1.0`"),
        ({"learning_rate": float("nan")}, "`learning_rate=nan`"),
        ({"optimizer": "adagrad"}, "`optimizer='adagrad'`"),
        ({"dataset": "imagenet"}, "`dataset='imagenet'`"),
        ({"data_init": "yes"}, "`data_init='yes'`"),
        ({"seed": -3}, "`seed=-3`"),
        ({"train_limit": 5}, "`train_limit=5`"),
        ({"output_dir": 3}, "`output_dir=3`"),
        ({"seed": 2**32}, "`seed=4294967296`"),  # Keras' seeding takes 32 bits only
        ({"init_style": "keras"}, "`init_style='keras'`"),
    ],
)
def test_bad_values_raise_one_line_naming_the_parameter(changes, received):
    name = next(iter(changes))
    with pytest.raises(ValueError) as error:
        ExperimentParams(**changes)
    message = str(error.value)
    assert message.startswith(f"Invalid value for `{name}`: expected ")
    assert message.endswith(f"Received: {received}") and "\n" not in message


@pytest.mark.slow
def test_the_largest_seed_trains(tiny_data):
    params = ExperimentParams(seed=MAX_SEED, **{**TINY, "epochs": 1})
    assert run_experiment(params, data=tiny_data).status == "completed"


@pytest.fixture
def no_data_loading(monkeypatch):
    def fail(self):
        raise AssertionError("the data should not have been loaded")

    monkeypatch.setattr(ExperimentParams, "load_data", fail)


def test_an_output_dir_that_is_a_file_fails_before_loading_data(tmp_path, no_data_loading):
    taken = tmp_path / "results.txt"
    taken.write_text("not a folder")
    for output_dir in (taken, taken / "runs"):
        params = ExperimentParams(output_dir=str(output_dir), **TINY)
        with pytest.raises(
            ValueError, match=rf"\({taken} is not a folder\)\. Received: `output_dir="
        ):
            run_experiment(params)
        with pytest.raises(ValueError, match="Invalid value for `output_dir`"):
            run_experiments([params])


def test_an_unwritable_output_dir_fails_before_loading_data(tmp_path, monkeypatch, no_data_loading):
    locked = tmp_path / "locked"
    locked.mkdir()
    # Tests may run as root, which may write anywhere: the permission bits are simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    params = ExperimentParams(output_dir=str(locked / "runs"), **TINY)
    with pytest.raises(ValueError, match=f"{locked} is not writable"):
        run_experiment(params)
    assert not (locked / "runs").exists()  # validation creates nothing


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown parameter `lr`. Valid parameters: archive, "):
        ExperimentParams.from_dict({"lr": 0.1})


def test_defaults_are_the_tutorial_protocol():
    params = ExperimentParams()
    assert (params.epochs, params.batch_size, params.optimizer) == (10, 32, "adam")
    assert params.learning_rate == 0.001 and params.run_name == "regular"
    assert ExperimentParams(weight_norm=True).run_name == "weightnorm"


def test_tutorial_runs_and_notebook_validation():
    assert [p.weight_norm for p in tutorial_runs("both", epochs=1)] == [False, True]
    assert [p.run_name for p in tutorial_runs("weightnorm")] == ["weightnorm"]
    with pytest.raises(ValueError, match="Received: `model='resnet'`"):
        tutorial_runs("resnet")
    validate_notebook_parameters({"epochs": 2, "live": "static", "not_ours": object()})
    with pytest.raises(ValueError, match="Received: `live='sometimes'`"):
        validate_notebook_parameters({"live": "sometimes"})
    with pytest.raises(ValueError, match="Received: `batch_size=0`"):
        validate_notebook_parameters({"model": "both", "batch_size": 0})


@pytest.mark.slow
def test_run_writes_history_and_metrics(tiny_data, tmp_path):
    params = ExperimentParams(weight_norm=True, output_dir=str(tmp_path), **TINY)
    result = run_experiment(params, data=tiny_data)

    assert result.status == "completed" and result.epochs_completed == 3
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    folder = tmp_path / "weightnorm"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["params"]["weight_norm"] is True
    assert metrics["history"]["val_accuracy"] == result.history["val_accuracy"]
    assert metrics["best_val_accuracy"] == max(result.history["val_accuracy"])
    assert metrics["versions"]["keras"] == keras.__version__
    history = pd.read_csv(folder / "history.csv")
    assert list(history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    ]
    assert history["epoch"].tolist() == [1, 2, 3]
    # The WeightNorm model was initialized from data before training, once.
    wrappers = [layer for layer in result.model.layers if isinstance(layer, WeightNormalization)]
    assert all(float(layer.initialized.value) == 1.0 for layer in wrappers)


@pytest.mark.slow
def test_same_seed_same_history(tiny_data):
    params = ExperimentParams(seed=7, **TINY)
    first = run_experiment(params, data=tiny_data).history
    second = run_experiment(params, data=tiny_data).history
    other = run_experiment(params.replace(seed=8), data=tiny_data).history
    assert first == second
    assert first != other


class _AtEpoch(keras.callbacks.Callback):
    """Does something during a given epoch (0-based), after its first batch."""

    def __init__(self, epoch: int, action):
        super().__init__()
        self.epoch, self.action, self.current = epoch, action, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            self.action(self.model)


def _stop(model):
    model.stop_training = True


def _interrupt(model):
    raise KeyboardInterrupt


def _crash(model):
    raise RuntimeError("loss went to the moon")


@pytest.mark.slow
def test_stopped_run_keeps_its_history(tiny_data, tmp_path):
    params = ExperimentParams(output_dir=str(tmp_path), **TINY)
    result = run_experiment(params, callbacks=[_AtEpoch(1, _stop)], data=tiny_data)
    assert result.status == "stopped"
    assert result.epochs_completed == 2  # Keras finishes the epoch's bookkeeping
    saved = json.loads((tmp_path / "regular" / "metrics.json").read_text())
    assert saved["status"] == "stopped" and saved["epochs_completed"] == 2


@pytest.mark.slow
def test_run_stopped_in_its_last_epoch_is_not_completed(tiny_data):
    result = run_experiment(
        ExperimentParams(**TINY), callbacks=[_AtEpoch(2, _stop)], data=tiny_data
    )
    assert result.status == "stopped"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("action", "exception", "status"),
    [(_interrupt, KeyboardInterrupt, "interrupted"), (_crash, RuntimeError, "failed")],
)
def test_interrupted_or_crashed_run_writes_what_it_had(
    tiny_data, tmp_path, action, exception, status
):
    params = ExperimentParams(output_dir=str(tmp_path), **TINY)
    with pytest.raises(exception):
        run_experiment(params, callbacks=[_AtEpoch(2, action)], data=tiny_data)
    saved = json.loads((tmp_path / "regular" / "metrics.json").read_text())
    assert saved["status"] == status
    assert saved["epochs_completed"] == 2 and len(saved["history"]["val_accuracy"]) == 2
    if status == "failed":
        assert saved["error"] == "RuntimeError: loss went to the moon"
    assert len(pd.read_csv(tmp_path / "regular" / "history.csv")) == 2


@pytest.mark.slow
def test_run_experiments_trains_each_run_on_shared_data(tiny_data):
    results = run_experiments(tutorial_runs("both", **TINY), data=tiny_data)
    assert list(results) == ["regular", "weightnorm"]
    assert all(result.status == "completed" for result in results.values())
    frame = results["regular"].to_frame()
    assert frame["epoch"].tolist() == [1, 2, 3]
