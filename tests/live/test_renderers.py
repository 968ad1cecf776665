"""labkit.live.figure and labkit.live.renderers: the figure's look, and how each renderer draws."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from labkit.live import (
    DisplayRenderer,
    FigureSpec,
    MetricHistory,
    StaticRenderer,
    WidgetRenderer,
    figure_bundle,
    make_renderer,
)
from labkit.live.figure import PLOTLY_MIMETYPE
from labkit.plots import RUN_COLORS


def _history(runs=("regular", "weightnorm"), epochs: int = 2, steps: int = 5) -> MetricHistory:
    history = MetricHistory()
    for run in runs:
        history.start_run(run, epochs=epochs, steps=steps)
        for epoch in range(epochs):
            for batch in range(steps):
                history.add_batch(run, epoch, batch, {"loss": 2.0 - batch / 10, "accuracy": 0.2})
            history.add_epoch(run, epoch, {"val_loss": 1.8, "val_accuracy": 0.3})
        history.end_run(run)
    return history


def test_runs_keep_the_tutorial_colours_train_solid_val_dashed_legend_once():
    figure = FigureSpec(smoothing=0).to_dict(_history(("regular", "weightnorm", "other")))
    traces = figure["data"]
    assert len(traces) == 12  # 3 runs x (loss, val_loss, accuracy, val_accuracy)
    for trace in traces:
        run = trace["legendgroup"]
        if run in RUN_COLORS:
            assert trace["line"]["color"] == RUN_COLORS[run]
        assert trace["line"]["dash"] == ("dash" if trace["name"].endswith("(val)") else "solid")
        assert trace["showlegend"] == (trace["xaxis"] == "x")
    other = {t["line"]["color"] for t in traces if t["legendgroup"] == "other"}
    assert len(other) == 1 and other.isdisjoint(RUN_COLORS.values())
    names = [t["name"] for t in traces if t["showlegend"]]
    assert names[:2] == ["Regular ConvNet (train)", "Regular ConvNet (val)"]


def test_the_figure_has_loss_and_accuracy_subplots_in_epochs_and_optional_log_loss():
    layout = FigureSpec(log_y=True).to_dict(_history())["layout"]
    assert [a["text"] for a in layout["annotations"]] == ["loss", "accuracy"]
    assert layout["xaxis"]["title"]["text"] == layout["xaxis2"]["title"]["text"] == "epoch"
    assert layout["yaxis"]["type"] == "log" and layout["yaxis2"]["type"] == "linear"
    assert "Regular ConvNet: completed" in layout["title"]["text"]


def test_per_step_curves_run_on_across_epochs_and_running_means_break_between_them():
    history = _history(("regular",), epochs=3, steps=4)
    figure = FigureSpec().to_dict(history)
    for name in ("Regular ConvNet (train)", "Regular ConvNet (train, raw)"):
        loss = next(t for t in figure["data"] if t["name"] == name)
        assert None not in loss["x"] and len(loss["x"]) == 12, name
    val = next(t for t in figure["data"] if t["name"] == "Regular ConvNet (val)")
    assert val["x"] == [1.0, 2.0, 3.0]
    # The ends of the first two epochs are marked lightly in both subplots; the run is over.
    marks = [(shape["xref"], shape["x0"]) for shape in figure["layout"]["shapes"]]
    assert marks == [("x", 1.0), ("x", 2.0), ("x2", 1.0), ("x2", 2.0)]
    json.dumps(figure, allow_nan=False)

    keras_view = FigureSpec(train_values="running_mean").to_dict(history)
    loss = next(t for t in keras_view["data"] if t["name"] == "Regular ConvNet (train)")
    assert loss["x"][4] is None and loss["x"][9] is None and len(loss["x"]) == 14
    assert loss["y"][:4] == [2.0, 1.9, 1.8, 1.7]  # Keras' running means, unsmoothed
    assert "running mean" in loss["hovertemplate"] and not keras_view["layout"]["shapes"]
    assert all(not t["name"].endswith("(train, raw)") for t in keras_view["data"])


def test_long_histories_are_downsampled_for_drawing():
    history = _history(("regular",), epochs=2, steps=5000)
    x, _ = FigureSpec(max_points=300).points(history, "regular", "loss")
    assert len(x) <= 302 and np.nanmax(x) == 2.0


def test_the_static_bundle_renders_without_a_kernel_and_stays_small():
    bundle = figure_bundle(FigureSpec().to_dict(_history()))
    assert set(bundle) == {PLOTLY_MIMETYPE, "text/html", "text/plain"}
    assert len(bundle[PLOTLY_MIMETYPE]["data"]) == 12  # smoothed and raw train curves, val
    html = bundle["text/html"]
    assert 'src="https://cdn.plot.ly/' in html and len(html) < 200_000
    json.dumps(bundle, allow_nan=False)
    assert bundle["text/plain"].startswith("<plotly figure: Training, live | Regular ConvNet")


def test_figure_bundle_takes_a_plotly_figure():
    bundle = figure_bundle(go.Figure(go.Scatter(x=[0, 1, 2], y=[3, 4, 5], name="a")))
    assert bundle[PLOTLY_MIMETYPE]["data"][0]["x"] == [0, 1, 2]


def test_the_widget_renderer_sends_only_changed_traces_in_one_update(monkeypatch):
    history = _history()
    renderer = WidgetRenderer(display=False)
    renderer.update(history)
    widget = renderer.widget
    assert isinstance(widget, go.FigureWidget) and len(widget.data) == 12
    sent = []
    monkeypatch.setattr(
        widget,
        "_send_update_msg",
        lambda restyle_data, relayout_data, trace_indexes=None, **kw: sent.append(
            (restyle_data, trace_indexes)
        ),
    )
    renderer.update(history)
    assert sent == []  # nothing new: nothing sent
    history.start_run("regular", epochs=2, steps=5)
    history.add_batch("regular", 0, 0, {"loss": 1.0, "accuracy": 0.5})
    renderer.update(history)
    assert len(sent) == 1
    restyle, indexes = sent[0]
    changed = [widget.data[i].name for i in indexes]
    # All four regular traces were reset by the restart; the weightnorm traces are untouched.
    assert changed and all(name.startswith("Regular") for name in changed)
    assert set(restyle) == {"x", "y"}


def test_the_widget_renderer_adds_traces_for_new_runs():
    history = _history(("regular",))
    renderer = WidgetRenderer(display=False)
    renderer.update(history)
    history.start_run("weightnorm", epochs=1, steps=5)
    history.add_batch("weightnorm", 0, 0, {"loss": 1.0, "accuracy": 0.5})
    renderer.update(history)
    names = [trace.name for trace in renderer.widget.data]
    assert names.count("WeightNorm ConvNet (train)") == 2 and len(names) == 12
    assert "WeightNorm ConvNet: epoch 1/1" in renderer.widget.layout.title.text


def test_the_widget_is_displayed_once(fake_kernel):
    renderer = WidgetRenderer()
    history = _history()
    renderer.show(history)
    renderer.show(history)
    assert fake_kernel.displayed == [renderer.widget]


def test_the_display_renderer_replaces_one_output(fake_kernel):
    history = _history()
    renderer = DisplayRenderer()
    renderer.show(history)
    renderer.update(history)  # nothing new
    history.add_batch("regular", 1, 4, {"loss": 0.1})
    renderer.update(history)
    assert len(fake_kernel.handles) == 1
    handle = fake_kernel.handles[0]
    assert PLOTLY_MIMETYPE in handle.bundle and len(handle.updates) == 1


def test_the_static_renderer_draws_only_at_the_end_and_writes_html(fake_kernel, tmp_path):
    history = _history()
    renderer = StaticRenderer(html_path=tmp_path / "live.html")
    renderer.show(history)
    renderer.update(history)
    assert fake_kernel.displayed == []
    renderer.finish(history)
    history.add_batch("regular", 1, 4, {"loss": 0.1})
    renderer.finish(history)
    assert len(fake_kernel.displayed) == 1 and len(fake_kernel.handles[0].updates) == 1
    html = (tmp_path / "live.html").read_text()
    assert "Regular ConvNet (train)" in html and len(html) > 1_000_000  # plotly.js embedded


def test_the_static_renderer_shows_nothing_outside_a_kernel(capsys):
    StaticRenderer().finish(_history())
    assert capsys.readouterr().out == ""


def test_make_renderer_maps_modes():
    assert isinstance(make_renderer("static"), StaticRenderer)
    assert isinstance(make_renderer("display"), DisplayRenderer)
    assert isinstance(make_renderer("widget", display=False), WidgetRenderer)
    assert make_renderer("off") is None
    with pytest.raises(ValueError, match=r"Received: `mode='auto'`"):
        make_renderer("auto")
