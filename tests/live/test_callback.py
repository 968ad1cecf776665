"""labkit.LivePlot: the Keras callback, alone and through labkit's runner, Stop included."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import labkit.live.callback as callback_module
from labkit import LivePlot
from labkit.experiment import run_experiment
from labkit.live import StaticRenderer, WidgetRenderer
from labkit.live.figure import PLOTLY_MIMETYPE
from labkit.params import ExperimentParams
from labkit.plots import RUN_COLORS


class StopAt(keras.callbacks.Callback):
    """Presses `LivePlot.stop` after `batch` of `epoch`, as the panel's Stop button would."""

    def __init__(self, plot: LivePlot, epoch: int, batch: int):
        super().__init__()
        self.plot, self.epoch, self.batch = plot, epoch, batch
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self._epoch, batch) == (self.epoch, self.batch):
            self.plot.stop()


def _fit(model, data, plot, epochs=2, batch_size=50, extra=()):
    return model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(data.x_test, data.y_test),
        callbacks=[*extra, plot],
        verbose=0,
    )


@pytest.mark.slow
def test_live_plot_records_every_batch_and_epoch_of_each_run(tiny_data, compiled_convnet):
    plot = LivePlot(mode="off")
    _fit(compiled_convnet(), tiny_data, plot, epochs=2)
    run = plot.history.runs["regular"]
    x, loss = run.series["loss"].points()
    np.testing.assert_allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert np.all(np.isfinite(loss))
    np.testing.assert_allclose(run.series["val_accuracy"].points()[0], [1.0, 2.0])
    assert run.state == "completed" and run.epochs == 2 and run.steps == 4


@pytest.mark.slow
def test_two_models_share_one_figure_in_the_tutorial_colours(tiny_data, compiled_convnet):
    plot = LivePlot(mode="off")
    _fit(compiled_convnet(), tiny_data, plot, epochs=1)
    _fit(compiled_convnet(weight_norm=True), tiny_data, plot, epochs=1)
    figure = plot.figure()
    assert {trace.legendgroup for trace in figure.data} == {"regular", "weightnorm"}
    for trace in figure.data:
        assert trace.line.color == RUN_COLORS[trace.legendgroup]
    assert "WeightNorm ConvNet: completed" in figure.layout.title.text


@pytest.mark.slow
def test_an_explicit_label_names_the_run(tiny_data, compiled_convnet):
    plot = LivePlot(mode="off", label="lr=0.01")
    _fit(compiled_convnet(), tiny_data, plot, epochs=1)
    assert list(plot.history.runs) == ["lr=0.01"]


@pytest.mark.slow
def test_save_html_writes_the_figure_as_it_stands(tiny_data, compiled_convnet, tmp_path):
    plot = LivePlot(mode="off", label="lr=0.01")
    _fit(compiled_convnet(), tiny_data, plot, epochs=1)
    path = plot.save_html(tmp_path / "live" / "figure.html", include_plotlyjs="cdn")
    text = path.read_text()
    assert "cdn.plot.ly" in text
    assert text.count('"legendgroup":"lr=0.01"') == len(plot.figure().data)


@pytest.mark.slow
def test_stop_ends_the_fit_after_the_current_batch_and_keeps_the_history(
    tiny_data, compiled_convnet
):
    plot = LivePlot(mode="off")
    history = _fit(
        compiled_convnet(), tiny_data, plot, epochs=5, extra=[StopAt(plot, epoch=1, batch=1)]
    )
    run = plot.history.runs["regular"]
    assert run.state == "stopped"
    # Epoch 0 (4 batches) and 2 batches of epoch 1, then Keras validates the partial epoch.
    assert run.series["loss"].points()[0][-1] == pytest.approx(1.5)
    assert run.series["val_loss"].points()[0].tolist() == [1.0, 1.5]
    assert len(history.history["val_loss"]) == 2
    assert not plot.stop_event.is_set()  # consumed: the next fit runs in full
    _fit(compiled_convnet(weight_norm=True), tiny_data, plot, epochs=1)
    assert plot.history.runs["weightnorm"].state == "completed"


@pytest.mark.slow
def test_stopped_runs_keep_their_history_through_the_runner(tiny_data, tmp_path):
    plot = LivePlot(mode="off")
    params = ExperimentParams(epochs=4, batch_size=50, output_dir=str(tmp_path))
    stop = StopAt(plot, epoch=2, batch=0)
    result = run_experiment(params, callbacks=[stop, plot], data=tiny_data)
    assert result.status == "stopped"
    assert result.epochs_completed == 3  # two full epochs and the partial third
    saved = json.loads((tmp_path / "regular" / "metrics.json").read_text())
    assert saved["status"] == "stopped" and len(saved["history"]["val_accuracy"]) == 3
    assert len(plot.history.runs["regular"].series["loss"]) == 9


@pytest.mark.slow
def test_headless_runs_show_one_static_figure_and_create_no_widget(
    tiny_data, compiled_convnet, fake_kernel, monkeypatch
):
    def no_widgets(*args, **kwargs):
        raise AssertionError("a FigureWidget was created in a headless run")

    monkeypatch.setattr("plotly.graph_objects.FigureWidget", no_widgets)
    plot = LivePlot()  # auto: a kernel without a Jupyter server is headless
    assert plot.mode == "static" and isinstance(plot.renderer, StaticRenderer)
    _fit(compiled_convnet(), tiny_data, plot, epochs=1)
    _fit(compiled_convnet(weight_norm=True), tiny_data, plot, epochs=1)
    assert len(fake_kernel.displayed) == 1  # one figure, replaced when the second run ends
    final = fake_kernel.handles[0].updates[-1][PLOTLY_MIMETYPE]
    assert {trace["legendgroup"] for trace in final["data"]} == {"regular", "weightnorm"}


def test_widget_updates_are_throttled(compiled_convnet, fake_kernel, monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock["now"])
    plot = LivePlot(mode="widget", update_interval=1.0)
    assert isinstance(plot.renderer, WidgetRenderer)
    draws = []
    monkeypatch.setattr(plot.renderer, "update", lambda history: draws.append(history.version))
    finished = []
    monkeypatch.setattr(plot.renderer, "finish", lambda history: finished.append(history.version))
    plot.set_model(compiled_convnet())
    plot.set_params({"epochs": 2, "steps": 40, "verbose": 0})
    plot.on_train_begin()
    for epoch, expected in ((0, 6), (1, 12)):  # the first figure, then one a second
        plot.on_epoch_begin(epoch)
        for batch in range(40):
            clock["now"] += 0.125  # exact in binary: redraws due at whole seconds fall on one
            plot.on_train_batch_end(batch, {"loss": 1.0, "accuracy": 0.5})
        assert len(draws) == expected  # one redraw per second of training, not one per batch
        plot.on_epoch_end(epoch, {"val_loss": 1.0, "val_accuracy": 0.5})
    # An epoch's end is drawn at once, the last one's by the final figure, not twice.
    assert len(draws) == 12
    plot.on_train_end()
    assert len(draws) == 12 and len(finished) == 1 and finished[0] > draws[-1]
    assert fake_kernel.displayed == [plot.widget]


def _train_by_hand(plot, model, clock, batches, seconds_per_batch=0.1):
    """Calls the hooks of a one-epoch `fit` of `batches` batches, `clock` as the time."""
    plot.set_model(model)
    plot.set_params({"epochs": 1, "steps": batches, "verbose": 0})
    plot.on_train_begin()
    plot.on_epoch_begin(0)
    for batch in range(batches):
        clock["now"] += seconds_per_batch
        plot.on_train_batch_end(batch, {"loss": 1.0 - batch / 100, "accuracy": 0.5})


def test_slow_redraws_are_spaced_out_unless_an_interval_was_given(
    compiled_convnet, fake_kernel, monkeypatch
):
    clock = {"now": 0.0}
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock["now"])
    # 0.3 s after the first figure; then no sooner than when three redraws (the first figure
    # counted) take 0.5% of training, at 12 s. Or every second when asked for.
    for interval, expected in ((None, 1), (1.0, 4)):
        plot = LivePlot(mode="widget", update_interval=interval)
        draws = []

        def slow_update(history, draws=draws):
            draws.append(history.version)
            clock["now"] += 0.02  # a 20 ms redraw: at most 0.5% of training means every 4 s

        monkeypatch.setattr(plot.renderer, "update", slow_update)
        _train_by_hand(plot, compiled_convnet(), clock, batches=50)  # 5 s of training
        # (The default 0.3 s alone would give 16 redraws.) The first draw is the empty figure.
        assert len(draws) - 1 == expected, interval


def test_one_slow_redraw_does_not_hold_the_figure_still(compiled_convnet, fake_kernel, monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock["now"])
    plot = LivePlot(mode="widget")
    costs = iter([0.001, 0.001, 0.5] + [0.001] * 100)  # the third redraw takes half a second
    draws = []

    def update(history):
        draws.append(clock["now"])
        clock["now"] += next(costs)

    monkeypatch.setattr(plot.renderer, "update", update)
    _train_by_hand(plot, compiled_convnet(), clock, batches=100, seconds_per_batch=0.05)
    # Spaced by the median of the last redraws (1 ms: every 0.3 s), not by the slow one,
    # which alone would have held the next redraw back by 100 s.
    gaps = np.diff(draws[1:])
    assert len(draws) > 10 and gaps.max() < 1.0, gaps


def test_batches_wait_for_a_redraw_but_reading_the_history_sees_them_all(
    compiled_convnet, monkeypatch
):
    clock = {"now": 100.0}
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock["now"])
    plot = LivePlot(mode="static")  # draws only when a fit ends
    _train_by_hand(plot, compiled_convnet(), clock, batches=30, seconds_per_batch=0.5)
    assert len(plot._pending) == 30 and plot._history.runs["regular"].step == 0
    run = plot.history.runs["regular"]
    assert run.step == 30 and not plot._pending
    # Each batch keeps the time it ended, not the time it was recorded.
    np.testing.assert_allclose(np.diff(run.series["loss"].column("seconds")), 0.5)
    means = 1.0 - np.arange(30) / 100  # the running means Keras reported
    np.testing.assert_allclose(run.series["loss"].column("running_mean"), means)
    sums = means * np.arange(1, 31)  # no model to read the batch size from: batches weigh alike
    np.testing.assert_allclose(run.series["loss"].column("y"), np.diff(sums, prepend=0.0))
    # Batches left waiting by a fit that failed belong to that run, not to the next one.
    _train_by_hand(plot, compiled_convnet(), clock, batches=3)
    plot.label = "next"
    _train_by_hand(plot, compiled_convnet(), clock, batches=2)
    assert plot.history.runs["regular"].step == 3 and plot.history.runs["next"].step == 2


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match=r"Received: `update_interval=-1`"):
        LivePlot(mode="off", update_interval=-1)
    with pytest.raises(ValueError, match=r"Received: `mode='static'`"):
        LivePlot(mode="static").widget  # noqa: B018
    # Caught when the plot is made, not at its first redraw in the middle of training.
    for max_points in (1, 2.5):
        with pytest.raises(ValueError, match=rf"Received: `max_points={max_points}`"):
            LivePlot(mode="off", max_points=max_points)


def test_show_is_the_word_for_showing_the_figure_and_display_still_works_with_a_warning(
    monkeypatch,
):
    monkeypatch.setattr(callback_module, "widget_problem", lambda: None)  # widgets can render
    assert LivePlot(mode="widget", controls=False, show=False).renderer.display is False
    with pytest.warns(DeprecationWarning, match=r"use `show=\.\.\.`.*Received: `display=False`"):
        plot = LivePlot(mode="widget", controls=False, display=False)
    assert plot.renderer.display is False
