"""labkit.live.history and labkit.live.progress: points on an epoch axis, downsampling, progress."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.live.history import MetricHistory, Series, downsample
from labkit.live.progress import format_duration, progress_line, run_progress


def _history(steps: int = 4, epochs: int = 2) -> MetricHistory:
    history = MetricHistory(("loss", "accuracy"))
    history.start_run("regular", epochs=epochs, steps=steps)
    return history


def test_batch_points_sit_at_fractional_epochs_and_val_points_at_epoch_ends():
    history = _history(steps=4)
    for epoch in range(2):
        for batch in range(4):
            history.add_batch("regular", epoch, batch, {"loss": 2.0 - batch, "accuracy": 0.1})
        history.add_epoch("regular", epoch, {"val_loss": 1.5, "val_accuracy": 0.3 + epoch / 10})
    run = history.runs["regular"]
    x, y = run.series["loss"].points()
    np.testing.assert_allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    np.testing.assert_allclose(run.series["loss"].column("running_mean")[:4], [2, 1, 0, -1])
    np.testing.assert_allclose(y[:4], [2.0, 0.0, -2.0, -4.0])  # k·m_k − (k−1)·m_(k−1)
    np.testing.assert_allclose(run.series["val_accuracy"].points()[0], [1.0, 2.0])
    np.testing.assert_allclose(run.epoch_ends.column("steps"), [4, 8])
    assert run.best("val_accuracy") == pytest.approx(0.4)
    assert run.best("val_loss") == 1.5
    assert run.fraction_done == 1.0


def test_a_run_stopped_mid_epoch_gets_its_val_point_where_it_stopped():
    history = _history(steps=4)
    history.add_batch("regular", 0, 0, {"loss": 1.0})
    history.add_epoch("regular", 0, {"val_loss": 1.2})
    history.end_run("regular", stopped=True)
    run = history.runs["regular"]
    assert run.series["val_loss"].points()[0].tolist() == [0.25]
    assert run.state == "stopped" and run.eta is None


def test_missing_metrics_are_skipped():
    history = _history()
    history.add_batch("regular", 0, 0, {"loss": 1.0})
    assert len(history.runs["regular"].series["accuracy"]) == 0


def test_restarting_a_run_drops_its_points_but_keeps_its_place_and_changes_versions():
    history = _history()
    history.start_run("weightnorm", epochs=2, steps=4)
    history.add_batch("regular", 0, 0, {"loss": 1.0})
    old_version = history.runs["regular"].series["loss"].version
    history.start_run("regular", epochs=1, steps=4)
    assert list(history.runs) == ["regular", "weightnorm"]
    assert len(history.runs["regular"].series["loss"]) == 0
    history.add_batch("regular", 0, 0, {"loss": 1.0})
    assert history.runs["regular"].series["loss"].version != old_version


def test_history_version_changes_on_every_record():
    history = _history()
    seen = {history.version}
    history.add_batch("regular", 0, 0, {"loss": 1.0})
    seen.add(history.version)
    history.add_epoch("regular", 0, {"val_loss": 1.0})
    seen.add(history.version)
    history.end_run("regular")
    seen.add(history.version)
    assert len(seen) == 4


@pytest.mark.parametrize("length", [10, 601, 1000, 15_630])
def test_downsampling_bounds_the_points_and_keeps_the_first_and_last(length):
    x = np.arange(float(length))
    kept, values = downsample(x, x * 2, 600)
    assert len(kept) <= 601 and kept[0] == 0 and kept[-1] == length - 1
    np.testing.assert_array_equal(values, kept * 2)


def test_downsampled_points_stay_put_while_a_series_grows():
    x = np.arange(1000.0)
    before, _ = downsample(x[:900], x[:900], 600)
    after, _ = downsample(x, x, 600)
    assert set(before[:-1]) <= set(after)


def test_downsampling_rejects_a_useless_budget():
    with pytest.raises(ValueError, match="Received: `max_points=1`"):
        downsample(np.zeros(3), np.zeros(3), 1)


def test_series_points_are_copies():
    series = Series()
    series.append(1.0, 2.0)
    x, _ = series.points()
    x[0] = 9.0
    assert series.points()[0][0] == 1.0


def test_metrics_must_be_a_sequence_of_names():
    with pytest.raises(ValueError, match="Received: `metrics='loss'`"):
        MetricHistory("loss")


def test_progress_shows_epoch_batch_elapsed_eta_and_best_val_accuracy():
    history = _history(steps=4, epochs=2)
    history.add_batch("regular", 0, 1, {"loss": 1.0})
    history.add_epoch("regular", 0, {"val_accuracy": 0.5})
    history.add_batch("regular", 1, 0, {"loss": 1.0})
    text = run_progress(history.runs["regular"], "Regular ConvNet")
    assert text.startswith("Regular ConvNet: epoch 2/2, batch 1/4, ")
    assert "elapsed, ETA " in text and text.endswith("best val_accuracy 0.5000")
    history.end_run("regular")
    line = progress_line(history, {"regular": "Regular ConvNet"})
    assert line.startswith("Regular ConvNet: completed after ")


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "?"), (0.4, "0:00"), (65, "1:05"), (3725.2, "1:02:05")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_a_diverged_epoch_is_never_the_best():
    history = _history(steps=1)
    for epoch, (loss, accuracy) in enumerate(
        [(float("nan"), float("nan")), (1.2, 0.4), (0.9, 0.3)]
    ):
        history.add_epoch("regular", epoch, {"val_loss": loss, "val_accuracy": accuracy})
    run = history.runs["regular"]
    assert run.best("val_accuracy") == pytest.approx(0.4)
    assert run.best("val_loss") == pytest.approx(0.9)
    history.start_run("diverged", epochs=1, steps=1)
    history.add_epoch("diverged", 0, {"val_accuracy": float("nan")})
    assert history.runs["diverged"].best("val_accuracy") is None
