"""Runs with any normalization and optimizer: `ExperimentParams.normalization`, the notebook's
`normalization` parameter, SGD with momentum, and the training loss recorded every few steps."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

from labkit.experiment import run_experiment
from labkit.notebook_contract import NOTEBOOK_DEFAULTS, notebook_runs, tutorial_runs
from labkit.params import ExperimentParams
from labkit.recording import StepRecorder
from labkit.results import ResultFileError, RunRecord, RunResult

# --- parameters ----------------------------------------------------------------------------


def test_normalization_defaults_to_what_weight_norm_says():
    for weight_norm, name in ((False, "regular"), (True, "weightnorm")):
        params = ExperimentParams(weight_norm=weight_norm)
        assert params.normalization == ("weightnorm" if weight_norm else "none")
        assert params.run_name == name
    assert ExperimentParams(normalization="").normalization == "none"
    assert NOTEBOOK_DEFAULTS["normalization"] == "none"


@pytest.mark.parametrize(
    ("normalization", "weight_norm", "run_name"),
    [
        ("none", False, "regular"),
        ("weightnorm", True, "weightnorm"),
        ("batchnorm", False, "batchnorm"),
        ("weightnorm+meanonly", True, "weightnorm_meanonly"),
    ],
)
def test_normalization_sets_weight_norm_and_the_run_name(normalization, weight_norm, run_name):
    params = ExperimentParams(normalization=normalization)
    assert (params.weight_norm, params.run_name) == (weight_norm, run_name)
    assert ExperimentParams.from_dict(params.to_dict()) == params


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"normalization": "groupnorm"},
            "Invalid value for `normalization`: expected one of 'none', 'weightnorm', "
            "'batchnorm', 'weightnorm+meanonly'. Received: `normalization='groupnorm'`",
        ),
        (
            {"normalization": "none", "weight_norm": True},
            "Invalid value for `normalization`: expected one of 'weightnorm', "
            "'weightnorm+meanonly' with `weight_norm=True`. Received: `normalization='none'`",
        ),
        (
            {"normalization": "weightnorm", "weight_norm": False},
            "Invalid value for `normalization`: expected one of 'none', 'batchnorm' with "
            "`weight_norm=False`. Received: `normalization='weightnorm'`",
        ),
        (
            {"weight_norm": "yes"},
            "Invalid value for `weight_norm`: expected a boolean. Received: `weight_norm='yes'`",
        ),
    ],
)
def test_bad_normalization_raises_one_line(values, message):
    with pytest.raises(ValueError) as error:
        ExperimentParams(**values)
    assert str(error.value) == message


def test_replace_one_of_weight_norm_and_normalization_sets_the_other():
    combined = ExperimentParams(normalization="weightnorm+meanonly")
    batchnorm = combined.replace(normalization="batchnorm", run_name=None)
    assert (batchnorm.weight_norm, batchnorm.run_name) == (False, "batchnorm")
    plain = batchnorm.replace(weight_norm=True, run_name=None)
    assert (plain.normalization, plain.run_name) == ("weightnorm", "weightnorm")
    assert combined.replace(normalization=None).run_name == "weightnorm_meanonly"  # kept


def test_weight_norm_is_derived_and_written_for_older_readers():
    params = ExperimentParams(normalization="weightnorm+meanonly")
    assert params.weight_norm and params.to_dict()["weight_norm"] is True
    with pytest.raises(AttributeError):
        params.weight_norm = False  # derived, never set on its own
    assert "weight_norm" not in {field.name for field in dataclasses.fields(ExperimentParams)}
    # A metrics.json from before `normalization` was the one field reads back.
    new = ExperimentParams(normalization="weightnorm")
    assert ExperimentParams.from_dict({**new.to_dict(), "normalization": None}) == new


# --- the notebook's parameter --------------------------------------------------------------


def test_notebook_normalization_picks_the_convnets():
    runs = notebook_runs({"normalization": "all", "live": "off", "optimizer": "momentum"})
    assert [run.normalization for run in runs] == [
        "none",
        "weightnorm",
        "batchnorm",
        "weightnorm+meanonly",
    ]
    assert [run.run_name for run in runs] == [
        "regular",
        "weightnorm",
        "batchnorm",
        "weightnorm_meanonly",
    ]
    assert {run.optimizer for run in runs} == {"momentum"}
    assert [run.run_name for run in tutorial_runs(normalization="batchnorm")] == ["batchnorm"]
    # Empty: the ConvNets `model` names, as before.
    assert [run.run_name for run in notebook_runs({"normalization": "", "model": "both"})] == [
        "regular",
        "weightnorm",
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"normalization": "every"},
            "Invalid value for `normalization`: expected one of '', 'none', 'weightnorm', "
            "'batchnorm', 'weightnorm+meanonly', 'all'. Received: `normalization='every'`",
        ),
        (
            {"normalization": "batchnorm", "model": "regular"},
            "Invalid value for `model`: expected 'both' when `normalization` picks the "
            "ConvNets. Received: `model='regular'`",
        ),
    ],
)
def test_notebook_normalization_conflicts_fail_in_one_line(values, message):
    with pytest.raises(ValueError) as error:
        notebook_runs(values)
    assert str(error.value) == message


# --- training ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("seeded")
def test_momentum_batchnorm_run_records_the_loss_and_accuracy_of_every_step(
    random_cifar10, tmp_path
):
    params = ExperimentParams(
        normalization="batchnorm",
        optimizer="momentum",
        learning_rate=0.01,
        epochs=2,
        batch_size=16,
        output_dir=str(tmp_path),
    )
    result = run_experiment(params, data=random_cifar10)

    optimizer = result.model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert "BatchNormalization" in kinds and result.model.name == "batchnorm"
    total_steps = 2 * 13  # 200 images in batches of 16
    assert result.steps["step"] == list(range(1, total_steps + 1))
    assert all(np.isfinite(result.steps["loss"])) and len(result.steps["seconds"]) == total_steps
    accuracy = np.array(result.steps["accuracy"])
    # The last batch of an epoch holds 8 images: its accuracy is a multiple of 1/8, the others'
    # of 1/16 (up to Keras' float32 running means).
    sizes = np.array(([16] * 12 + [8]) * 2)
    np.testing.assert_allclose(accuracy * sizes, np.round(accuracy * sizes), atol=1e-4)
    assert result.steps["seconds"] == sorted(result.steps["seconds"])
    metrics = json.loads((tmp_path / "batchnorm" / "metrics.json").read_text())
    assert metrics["steps"] == result.steps
    assert metrics["params"]["normalization"] == "batchnorm"
    assert RunResult.load(tmp_path / "batchnorm").steps == result.steps


def _feed(recorder: StepRecorder, epochs: list[list[float]], batch_size: int, examples: int):
    """Plays Keras' batch logs for known per-batch losses: the running, batch-size-weighted
    mean over the epoch so far (the last batch of an epoch holds the remainder)."""
    recorder.on_train_begin()
    for epoch, losses in enumerate(epochs):
        recorder.on_epoch_begin(epoch)
        total = seen = 0.0
        for batch, loss in enumerate(losses):
            size = min(batch_size, examples - batch * batch_size)
            total, seen = total + loss * size, seen + size
            recorder.on_train_batch_end(batch, {"loss": total / seen, "accuracy": 0.5})
    recorder.on_train_end()


def test_step_recorder_recovers_each_stretch_mean_across_epochs():
    result = RunResult(ExperimentParams())
    recorder = StepRecorder(result, every=2, batch_size=4, examples=10)  # batches 4, 4, 2
    epochs = [[3.0, 2.0, 1.0], [0.9, 0.8, 0.5]]

    _feed(recorder, epochs, batch_size=4, examples=10)

    assert result.steps["step"] == [2, 4, 6]
    # Steps 1-2: (3*4 + 2*4) / 8; steps 3-4 cross the epoch: (1*2 + 0.9*4) / 6; then 5-6.
    np.testing.assert_allclose(result.steps["loss"], [2.5, 5.6 / 6, (0.8 * 4 + 0.5 * 2) / 6])
    assert len(result.steps["seconds"]) == 3


def test_step_recorder_keeps_a_last_short_stretch():
    result = RunResult(ExperimentParams())
    _feed(StepRecorder(result, every=4, batch_size=5, examples=15), [[2.0, 1.0, 0.5]], 5, 15)
    assert result.steps["step"] == [3]
    np.testing.assert_allclose(result.steps["loss"], [3.5 / 3])


def test_step_recorder_counts_steps_from_keras_batch_index():
    """With `steps_per_execution=2` Keras reports every second batch (and counts past the
    epoch's end when its steps are odd): steps still count."""
    result = RunResult(ExperimentParams())
    recorder = StepRecorder(result, every=3, batch_size=2, examples=6)  # 3 steps per epoch
    recorder.set_params({"epochs": 2, "steps": 3})
    recorder.on_train_begin()
    for epoch in range(2):
        recorder.on_epoch_begin(epoch)
        for batch, mean in ((1, 2.0), (3, 1.5)):  # executions of losses 2.0, then 0.5
            recorder.on_train_batch_end(batch, {"loss": mean})
    recorder.on_train_end()
    assert result.steps["step"] == [3, 6]
    np.testing.assert_allclose(result.steps["loss"], [1.5, 1.5])


def test_step_recorder_checks_its_arguments():
    with pytest.raises(ValueError, match=r"Invalid value for `every`: .* Received: `every=0`"):
        StepRecorder(RunResult(ExperimentParams()), every=0, batch_size=4, examples=10)


def test_steps_are_part_of_the_record_and_checked_when_read():
    record = RunRecord(run_name="regular", status="completed", steps={"step": [10], "loss": [2]})
    assert RunRecord.from_json(record.to_json()) == record
    assert RunRecord.from_json({"run_name": "regular", "status": "completed"}).steps == {}
    with pytest.raises(ResultFileError, match="`steps` should be an object of lists of numbers"):
        RunRecord.from_json({**record.to_json(), "steps": {"loss": ["high"]}})
