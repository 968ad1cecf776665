"""labkit.results: RunResult, and metrics.json / history.csv written and read by one schema."""

from __future__ import annotations

import json

import pytest

from labkit.params import ExperimentParams
from labkit.results import (
    HISTORY_FILE,
    METRIC_ORDER,
    METRICS_FILE,
    ResultFileError,
    RunRecord,
    RunResult,
    library_versions,
    read_history,
    read_record,
)

HISTORY = {
    "val_accuracy": [0.31, 0.45, 0.42],
    "loss": [2.0, 1.6, 1.4],
    "accuracy": [0.25, 0.4, 0.5],
    "val_loss": [1.8, 1.5, 1.55],
    "lr": [0.1, 0.1, 0.05],
}


def _result(**changes) -> RunResult:
    values = {
        "params": ExperimentParams(weight_norm=True, epochs=3, seed=4),
        "history": {name: list(values) for name, values in HISTORY.items()},
        "epoch_seconds": [3.5, 2.1, 2.0],
        "status": "completed",
        "started_at": "2025-01-31T12:00:00+00:00",
        "duration_s": 7.6,
        "versions": {"keras": "3.15.1"},
    }
    return RunResult(**{**values, **changes})


def test_saved_results_read_back_equal(tmp_path):
    result = _result()
    folder = result.save(tmp_path / "weightnorm")
    assert sorted(path.name for path in folder.iterdir()) == [HISTORY_FILE, METRICS_FILE]

    record = read_record(folder)
    assert record == result.record()
    assert record.best_val_accuracy == 0.45 and record.final_val_accuracy == 0.42
    assert record.epochs_completed == 3 and record.params["init_style"] == "paper"
    loaded = RunResult.load(folder)
    assert loaded.params == result.params and loaded.history == result.history
    assert loaded.to_json() == result.to_json() and loaded.path == folder


def test_history_csv_has_the_keras_metrics_first_then_the_others(tmp_path):
    folder = _result().save(tmp_path / "run")
    history = read_history(folder)
    assert list(history.columns) == ["epoch", *METRIC_ORDER, "lr", "seconds"]
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["val_accuracy"].tolist() == HISTORY["val_accuracy"]


def test_a_diverged_epoch_is_never_the_best():
    result = _result(history={"val_accuracy": [float("nan"), 0.2, 0.1]})
    assert result.best_val_accuracy == 0.2 and result.final_val_accuracy == 0.1
    assert _result(history={"val_accuracy": [float("nan")]}).best_val_accuracy is None
    assert _result(history={}).final_val_accuracy is None


def test_records_of_any_notebook_are_read_and_unknown_keys_ignored(tmp_path):
    metrics = {"run_name": "fake", "status": "completed", "params": {"dataset": "fake"}}
    (tmp_path / METRICS_FILE).write_text(json.dumps({**metrics, "added_later": 1}))
    record = read_record(tmp_path / METRICS_FILE)
    assert record == RunRecord(**metrics)
    with pytest.raises(ValueError, match="Invalid value for `dataset`"):
        RunResult.load(tmp_path)  # labkit's own runs only


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ('{"run_name": "regular", "status": "compl', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, found list"),
        ('{"run_name": "regular"}', "missing status"),
        ('{"run_name": "regular", "status": "completed", "history": {"loss": "low"}}', "`history`"),
        ('{"run_name": "regular", "status": "completed", "epochs_completed": 2.5}', "an integer"),
    ],
)
def test_unreadable_files_are_named_in_one_line(tmp_path, text, problem):
    (tmp_path / METRICS_FILE).write_text(text)
    with pytest.raises(ResultFileError) as error:
        read_record(tmp_path)
    message = str(error.value)
    assert message.startswith(f"Unreadable run results {tmp_path / METRICS_FILE}: ")
    assert problem in message and "\n" not in message


def test_a_folder_without_results_is_named(tmp_path):
    with pytest.raises(ResultFileError, match=f"{tmp_path / METRICS_FILE}: no such file"):
        read_record(tmp_path)


def test_library_versions_name_the_backend():
    import keras

    versions = library_versions()
    assert versions["keras"] == keras.__version__
    assert versions["backend"] == keras.backend.backend()
