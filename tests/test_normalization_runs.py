"""Runs with any normalization and optimizer: `ExperimentParams.normalization`, the notebook's
`normalization` parameter, SGD with momentum, and the training loss recorded every few steps."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from labkit.experiment import run_experiment
from labkit.notebook_contract import NOTEBOOK_DEFAULTS, notebook_runs, tutorial_runs
from labkit.params import ExperimentParams
from labkit.recording import STEP_LOSS_EVERY, StepRecorder
from labkit.results import ResultFileError, RunRecord, RunResult

# --- parameters ----------------------------------------------------------------------------


def test_normalization_defaults_to_what_weight_norm_says():
    for weight_norm, name in ((False, "regular"), (True, "weightnorm")):
        params = ExperimentParams(weight_norm=weight_norm)
        assert params.normalization is None and params.run_name == name
    assert ExperimentParams(normalization="").normalization is None
    assert NOTEBOOK_DEFAULTS["normalization"] is None


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
    assert (plain.normalization, plain.run_name) == (None, "weightnorm")
    assert combined.replace(normalization=None).run_name == "weightnorm_meanonly"  # kept


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
def test_momentum_batchnorm_run_records_the_loss_every_few_steps(random_cifar10, tmp_path):
    params = ExperimentParams(
        normalization="batchnorm",
        optimizer="momentum",
        learning_rate=0.01,
        epochs=2,
        batch_size=16,
        output_dir=str(tmp_path),
        steps_per_execution=1,  # a record every 10 steps needs a batch end after each step
    )
    result = run_experiment(params, data=random_cifar10)

    optimizer = result.model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert "BatchNormalization" in kinds and result.model.name == "batchnorm"
    total_steps = 2 * 13  # 200 images in batches of 16
    expected = [*range(STEP_LOSS_EVERY, total_steps + 1, STEP_LOSS_EVERY), total_steps]
    assert result.steps["step"] == expected
    assert all(np.isfinite(result.steps["loss"])) and len(result.steps["seconds"]) == 3
    assert result.steps["seconds"] == sorted(result.steps["seconds"])
    metrics = json.loads((tmp_path / "batchnorm" / "metrics.json").read_text())
    assert metrics["steps"] == result.steps
    assert metrics["params"]["normalization"] == "batchnorm"
    assert RunResult.load(tmp_path / "batchnorm").steps == result.steps


def _feed(recorder: StepRecorder, epochs: list[list[float]], batch_size: int) -> None:
    """Plays Keras' batch logs for known per-batch losses: the running, batch-size-weighted
    mean over the epoch so far (the last batch of an epoch holds the remainder)."""
    recorder.on_train_begin()
    for epoch, losses in enumerate(epochs):
        recorder.on_epoch_begin(epoch)
        total = seen = 0.0
        for batch, loss in enumerate(losses):
            size = min(batch_size, recorder.examples - batch * batch_size)
            total, seen = total + loss * size, seen + size
            recorder.on_train_batch_end(batch, {"loss": total / seen, "accuracy": 0.5})
    recorder.on_train_end()


def test_step_recorder_recovers_each_stretch_mean_across_epochs():
    result = RunResult(ExperimentParams())
    recorder = StepRecorder(result, every=2, batch_size=4, examples=10)  # batches 4, 4, 2
    epochs = [[3.0, 2.0, 1.0], [0.9, 0.8, 0.5]]

    _feed(recorder, epochs, batch_size=4)

    assert result.steps["step"] == [2, 4, 6]
    # Steps 1-2: (3*4 + 2*4) / 8; steps 3-4 cross the epoch: (1*2 + 0.9*4) / 6; then 5-6.
    np.testing.assert_allclose(result.steps["loss"], [2.5, 5.6 / 6, (0.8 * 4 + 0.5 * 2) / 6])
    assert len(result.steps["seconds"]) == 3


def test_step_recorder_keeps_a_last_short_stretch():
    result = RunResult(ExperimentParams())
    _feed(StepRecorder(result, every=4, batch_size=5, examples=15), [[2.0, 1.0, 0.5]], 5)
    assert result.steps["step"] == [3]
    np.testing.assert_allclose(result.steps["loss"], [3.5 / 3])


def test_step_recorder_counts_steps_from_keras_batch_index():
    """With `steps_per_execution=2` Keras reports every second batch: steps still count."""
    result = RunResult(ExperimentParams())
    recorder = StepRecorder(result, every=3, batch_size=2, examples=8)  # 4 steps per epoch
    recorder.on_train_begin()
    for epoch in range(2):
        recorder.on_epoch_begin(epoch)
        for batch in (1, 3):  # running means of losses 1.0 per example
            recorder.on_train_batch_end(batch, {"loss": 1.0})
    recorder.on_train_end()
    assert result.steps["step"] == [4, 6, 8]
    np.testing.assert_allclose(result.steps["loss"], [1.0, 1.0, 1.0])


def test_step_recorder_checks_its_arguments():
    with pytest.raises(ValueError, match=r"Invalid value for `every`: .* Received: `every=0`"):
        StepRecorder(RunResult(ExperimentParams()), every=0, batch_size=4, examples=10)


def test_steps_are_part_of_the_record_and_checked_when_read():
    record = RunRecord(run_name="regular", status="completed", steps={"step": [10], "loss": [2]})
    assert RunRecord.from_json(record.to_json()) == record
    assert RunRecord.from_json({"run_name": "regular", "status": "completed"}).steps == {}
    with pytest.raises(ResultFileError, match="`steps` should be an object of lists of numbers"):
        RunRecord.from_json({**record.to_json(), "steps": {"loss": ["high"]}})
