"""labkit.recording: EpochRecorder keeps a run's history, and its files, up to date every epoch."""

from __future__ import annotations

from labkit.params import ExperimentParams
from labkit.recording import EpochRecorder
from labkit.results import RunResult, read_history, read_record


def test_every_epoch_is_recorded_and_saved_as_it_ends(tmp_path):
    result = RunResult(ExperimentParams(epochs=2))
    folder = tmp_path / "regular"
    recorder = EpochRecorder(result, folder)
    for epoch, accuracy in enumerate([0.3, 0.5]):
        recorder.on_epoch_begin(epoch)
        recorder.on_epoch_end(epoch, {"loss": 1.0 - accuracy, "val_accuracy": accuracy})
        saved = read_record(folder)
        assert saved.epochs_completed == epoch + 1 and saved.status == "running"
        assert saved.history["val_accuracy"][-1] == accuracy
    assert result.history == {"loss": [0.7, 0.5], "val_accuracy": [0.3, 0.5]}
    assert len(result.epoch_seconds) == 2 and all(s >= 0 for s in result.epoch_seconds)
    assert read_history(folder)["epoch"].tolist() == [1, 2]


def test_without_a_folder_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = RunResult(ExperimentParams())
    recorder = EpochRecorder(result)
    recorder.on_epoch_begin(0)
    recorder.on_epoch_end(0, {"loss": 2.0})
    assert result.history == {"loss": [2.0]} and list(tmp_path.iterdir()) == []
