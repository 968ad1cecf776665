"""The live figure's view options: smoothing, log losses, x-axis, the learning-rate trace, and the
toolbar that changes them at once on the curves drawn so far."""

from __future__ import annotations

import numpy as np
import pytest

from labkit import LivePlot
from labkit.live import FigureSpec, MetricHistory, WidgetRenderer, ema
from labkit.live.toolbar import Toolbar
from labkit.plotting.smoothing import RunningEma


def _history(steps: int = 5, epochs: int = 2, rates=None, clock=None) -> MetricHistory:
    """A run with a known loss per batch; `rates` gives the learning rate per epoch."""
    history = MetricHistory()
    history.start_run("regular", epochs=epochs, steps=steps)
    if clock is not None:
        history.runs["regular"].started = 0.0
    for epoch in range(epochs):
        if rates is not None:
            history.add_point("regular", "learning_rate", rates[epoch])
        for batch in range(steps):
            if clock is not None:
                clock["now"] = 2.0 * (epoch * steps + batch + 1)
            loss = 2.0 - 0.1 * batch + (0.3 if batch % 2 else 0.0)
            history.add_batch("regular", epoch, batch, {"loss": loss, "accuracy": 0.1 * batch})
        history.add_epoch("regular", epoch, {"val_loss": 1.5, "val_accuracy": 0.4})
    return history


def _trace(figure: dict, name: str) -> dict:
    return next(trace for trace in figure["data"] if trace["name"] == name)


def test_ema_is_debiased_skips_nan_and_zero_means_raw():
    np.testing.assert_allclose(ema(np.array([2.0, 2.0, 2.0]), 0.9), [2.0, 2.0, 2.0])
    smoothed = ema(np.array([1.0, np.nan, 0.0]), 0.5)
    assert np.isnan(smoothed[1])
    np.testing.assert_allclose(smoothed[[0, 2]], [1.0, 1 / 3])
    raw = np.array([3.0, 1.0])
    assert ema(raw, 0.0) is not raw and ema(raw, 0.0).tolist() == [3.0, 1.0]
    for bad in (1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match=r"expected a number in \[0, 0.99\]. Received"):
            ema(raw, bad)


def test_a_running_average_extended_point_by_point_equals_the_whole_one():
    values = np.random.default_rng(0).random(500)
    values[[3, 250]] = np.nan
    running = RunningEma(0.9)
    for end in (1, 2, 100, 251, 500):
        smoothed = running.extend(values[:end])
    np.testing.assert_allclose(smoothed, ema(values, 0.9), equal_nan=True)


def test_smoothing_draws_the_average_with_the_raw_curve_faint_behind_it():
    history = _history()
    figure = FigureSpec(smoothing=0.6).to_dict(history)
    names = [trace["name"] for trace in figure["data"]]
    raw, smooth = _trace(figure, "Regular ConvNet (train, raw)"), figure["data"][1]
    assert names.index("Regular ConvNet (train, raw)") < names.index("Regular ConvNet (train)")
    assert raw["opacity"] < 1 and raw["showlegend"] is False and raw["line"]["width"] == 1
    losses = history.runs["regular"].series["loss"].column("y")  # each step's own
    np.testing.assert_allclose(raw["y"], losses)
    np.testing.assert_allclose(smooth["y"], ema(losses, 0.6))
    assert None not in raw["y"] and None not in smooth["y"]  # both run on across epochs
    unsmoothed = FigureSpec(smoothing=0).to_dict(history)["data"]
    assert "Regular ConvNet (train, raw)" not in str(unsmoothed)


def test_the_x_axis_counts_epochs_steps_or_seconds(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr("labkit.live.history.time.monotonic", lambda: clock["now"])
    history = _history(steps=5, epochs=2, clock=clock)
    for axis, title, last_train, val in (
        ("epochs", "epoch", 2.0, [1.0, 2.0]),
        ("steps", "step", 10.0, [5.0, 10.0]),
        ("seconds", "seconds", 20.0, [10.0, 20.0]),
    ):
        figure = FigureSpec(x_axis=axis).to_dict(history)
        train = _trace(figure, "Regular ConvNet (train)")
        assert train["x"][-1] == last_train
        assert _trace(figure, "Regular ConvNet (val)")["x"] == val
        assert figure["layout"]["xaxis"]["title"]["text"] == title
        assert figure["layout"]["xaxis2"]["title"]["text"] == title
    with pytest.raises(ValueError, match=r"Received: `x_axis='batches'`"):
        FigureSpec(x_axis="batches")


def test_update_changes_view_options_only_and_checks_them_first():
    spec = FigureSpec()
    assert spec.update(log_y=True, x_axis="steps") is True
    assert spec.update(log_y=True) is False
    assert spec.to_dict(_history())["layout"]["yaxis"]["type"] == "log"
    with pytest.raises(ValueError, match=r"Received: `smoothing=2`"):
        spec.update(x_axis="seconds", smoothing=2)
    assert spec.x_axis == "steps"  # nothing applied when one value is bad
    with pytest.raises(ValueError, match=r"Only the view options .* Received: `height=3`"):
        spec.update(height=3)


def test_a_learning_rate_that_changes_is_drawn_on_its_own_log_axis():
    decaying = FigureSpec().to_dict(_history(rates=[0.1, 0.01]))
    rate = _trace(decaying, "Regular ConvNet (learning rate)")
    assert rate["y"] == [0.1, 0.01] and rate["line"]["dash"] == "dot"
    axis = decaying["layout"]["yaxis3"]
    assert rate["yaxis"] == "y3" and axis["type"] == "log" and axis["overlaying"] == "y"
    assert axis["visible"] is True
    constant = FigureSpec().to_dict(_history(rates=[0.1, 0.1]))
    assert all("learning rate" not in trace["name"] for trace in constant["data"])
    assert constant["layout"]["yaxis3"]["visible"] is False
    hidden = FigureSpec(learning_rate=False).to_dict(_history(rates=[0.1, 0.01]))
    assert all("learning rate" not in trace["name"] for trace in hidden["data"])


def _messages(widget, monkeypatch) -> list:
    sent = []
    for name in ("_send_update_msg", "_send_restyle_msg", "_send_relayout_msg"):
        monkeypatch.setattr(widget, name, lambda *args, _name=name, **kw: sent.append(_name))
    for name in ("_send_addTraces_msg", "_send_deleteTraces_msg"):
        monkeypatch.setattr(widget, name, lambda *args, _name=name, **kw: sent.append(_name))
    return sent


def test_a_view_change_redraws_the_existing_curves_in_one_message(monkeypatch):
    history = _history()
    spec = FigureSpec(smoothing=0.3)
    renderer = WidgetRenderer(spec, display=False)
    renderer.update(history)
    widget = renderer.widget
    sent = _messages(widget, monkeypatch)
    for options in ({"smoothing": 0.9}, {"log_y": True}, {"x_axis": "steps"}):
        spec.update(**options)
        renderer.redraw(history)
    assert sent == ["_send_update_msg"] * 3
    smooth = next(t for t in widget.data if t.name == "Regular ConvNet (train)")
    np.testing.assert_allclose(
        smooth.y, ema(history.runs["regular"].series["loss"].column("y"), 0.9)
    )
    assert smooth.x[-1] == 10 and widget.layout.xaxis.title.text == "step"
    assert widget.layout.yaxis.type == "log" and "step %{x}" in smooth.hovertemplate


def test_turning_smoothing_on_adds_the_raw_curves_to_the_widget():
    history = _history()
    spec = FigureSpec()
    renderer = WidgetRenderer(spec, display=False)
    renderer.update(history)
    spec.update(smoothing=0.5)
    renderer.redraw(history)
    names = [trace.name for trace in renderer.widget.data]
    assert names.count("Regular ConvNet (train, raw)") == 2 and len(names) == 6
    spec.update(smoothing=0.0)
    renderer.redraw(history)
    assert len(renderer.widget.data) == 4


def test_the_toolbar_controls_change_the_live_figure_at_once(fake_kernel):
    plot = LivePlot(mode="widget")
    history = _history()
    plot.history = history
    plot.show()
    toolbar = plot.toolbar
    assert isinstance(toolbar, Toolbar) and fake_kernel.displayed == [plot.widget]
    figure = plot.renderer.widget
    toolbar.log_y.value = True
    assert figure.layout.yaxis.type == "log" and plot.spec.log_y is True
    toolbar.x_axis.value = "seconds"
    assert figure.layout.xaxis.title.text == "seconds"
    toolbar.smoothing.value = 0.5
    assert any(trace.name.endswith("(train, raw)") for trace in figure.data)
    toolbar.train_values.value = "running_mean"  # Keras' numbers: no raw curve, epochs apart
    train = next(trace for trace in figure.data if trace.name == "Regular ConvNet (train)")
    means = history.runs["regular"].series["loss"].column("running_mean")
    np.testing.assert_allclose(train.y[:5], means[:5])
    assert np.isnan(train.y[5])  # a gap before the next epoch
    assert not any(trace.name.endswith("(train, raw)") for trace in figure.data)
    plot.set_view(smoothing=0.2, x_axis="epochs", train_values="per_step")  # the controls follow
    assert (toolbar.smoothing.value, toolbar.x_axis.value) == (0.2, "epochs")
    assert toolbar.train_values.value == "per_step"


def test_the_other_renderers_take_the_same_options_as_arguments(fake_kernel):
    plot = LivePlot(mode="display", smoothing=0.5, log_y=True, x_axis="steps")
    plot.history = _history(rates=[0.1, 0.01])
    plot.show()
    bundle = fake_kernel.handles[0].bundle["application/vnd.plotly.v1+json"]
    names = [trace["name"] for trace in bundle["data"]]
    assert "Regular ConvNet (train, raw)" in names and "Regular ConvNet (learning rate)" in names
    assert bundle["layout"]["yaxis"]["type"] == "log"
    assert bundle["layout"]["xaxis"]["title"]["text"] == "step"
    assert plot.toolbar is None


@pytest.mark.slow
def test_a_keras_schedule_draws_the_learning_rate_as_it_changes(fake_kernel):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    y = np.eye(2, dtype="float32")[np.arange(32) % 2]
    plot = LivePlot(mode="display", metrics=("loss",))
    halve = keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 / 2**epoch)
    model.fit(x, y, batch_size=8, epochs=3, callbacks=[halve, plot], verbose=0)
    figure = fake_kernel.handles[0].updates[-1]["application/vnd.plotly.v1+json"]
    rate = next(trace for trace in figure["data"] if trace["name"].endswith("(learning rate)"))
    assert sorted(set(rate["y"]), reverse=True) == pytest.approx([0.1, 0.05, 0.025])
    assert figure["layout"]["yaxis2"]["visible"] is True  # one metric: the LR axis is y2


@pytest.mark.slow
def test_the_learning_rate_follows_the_steps_whether_its_schedule_traces_or_not():
    import gc

    import keras

    from labkit.live import learning_rate as learning_rate_module
    from labkit.live.learning_rate import current_learning_rate

    class PythonSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            # `int` of a traced tensor fails: it trains only eagerly, and is read op by op.
            return 0.1 / (1 + int(step))

    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    for schedule, expected in (
        (decay, [0.1, 0.05, 0.025]),
        (PythonSchedule(), [0.1, 0.05, 1 / 30]),
    ):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        eager = isinstance(schedule, PythonSchedule)
        model.compile(keras.optimizers.SGD(schedule), "mse", run_eagerly=eager)
        rates = [current_learning_rate(model)]
        for _ in range(2):
            model.train_on_batch(x, y)
            rates.append(current_learning_rate(model))
        assert rates == pytest.approx(expected)
    readers = len(learning_rate_module._RATE_READERS)
    del model
    gc.collect()
    assert len(learning_rate_module._RATE_READERS) < readers  # a reader does not keep its optimizer


def test_a_restarted_run_keeps_its_traces_in_the_widget(monkeypatch):
    history = _history(rates=[0.1, 0.01])
    renderer = WidgetRenderer(FigureSpec(), display=False)
    renderer.update(history)
    widget = renderer.widget
    assert widget.data[-1].name == "Regular ConvNet (learning rate)"
    first = widget.data[0]
    sent = _messages(widget, monkeypatch)
    history.start_run("regular", epochs=2, steps=5)  # retrained: the LR has not changed yet
    history.add_batch("regular", 0, 0, {"loss": 1.0, "accuracy": 0.5})
    renderer.update(history)
    assert sent == ["_send_deleteTraces_msg", "_send_update_msg"]
    assert len(widget.data) == 6 and widget.data[0] is first  # the LR trace went


def test_the_learning_rate_is_read_at_most_once_a_second_between_epoch_ends(monkeypatch):
    import keras

    import labkit.live.callback as callback_module

    clock = {"now": 0.0}
    reads = []
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(callback_module, "current_learning_rate", lambda m: reads.append(1) or 0.1)
    plot = LivePlot(mode="display", update_interval=0.25)
    monkeypatch.setattr(plot.renderer, "update", lambda history: None)
    plot.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    plot.set_params({"epochs": 1, "steps": 32, "verbose": 0})
    plot.on_train_begin()
    plot.on_epoch_begin(0)
    for batch in range(32):  # 4 seconds of training, redrawn 16 times
        clock["now"] += 0.125
        plot.on_train_batch_end(batch, {"loss": 1.0, "accuracy": 0.5})
    plot.on_epoch_end(0, {"val_loss": 1.0})
    assert len(reads) == 1 + 4 + 1  # the start, once a second, the epoch's end


def test_the_widget_redraws_slow_traces_at_most_once_a_second_and_all_at_the_end(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr("labkit.live.renderers.time.monotonic", lambda: clock["now"])
    history = _history()
    history.add_series("regular", "wn/dense/v_norm")
    history.add_point("regular", "wn/dense/v_norm", 1.0)
    renderer = WidgetRenderer(FigureSpec(diagnostics=True), display=False)
    renderer.update(history)
    norms = next(trace for trace in renderer.widget.data if trace.name == "dense 1")
    for step, seconds in enumerate((0.3, 0.6), start=2):
        clock["now"] += 0.3
        history.add_point("regular", "wn/dense/v_norm", float(step))
        history.add_batch("regular", 1, 4, {"loss": 0.5})
        renderer.update(history)
        assert len(norms.y) == 1, seconds  # the loss is redrawn, the diagnostics wait
    renderer.finish(history)
    assert list(norms.y) == [1.0, 2.0, 3.0]
    clock["now"] += 1.0
    history.add_point("regular", "wn/dense/v_norm", 4.0)
    renderer.update(history)
    assert len(norms.y) == 4
