"""labkit.live.diagnostics and LivePlot(diagnostics=True): ‖v‖, g and the effective step of every
weight-normalized layer, measured, drawn in every renderer, and written with the run."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from labkit import LivePlot, WeightNormalization
from labkit.experiment import run_experiment
from labkit.live import FigureSpec, WeightNormProbe
from labkit.live.diagnostics import series_name
from labkit.live.figure import PLOTLY_MIMETYPE
from labkit.params import ExperimentParams


def _model(optimizer="sgd", transpose=False):
    keras.utils.set_random_seed(0)
    middle = (
        keras.layers.Conv2DTranspose(3, 3, padding="same")
        if transpose
        else keras.layers.Conv2D(3, 3, padding="same", activation="relu")
    )
    model = keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            WeightNormalization(middle, data_init=False),
            keras.layers.Flatten(),
            WeightNormalization(
                keras.layers.Dense(4, activation="softmax", name="head"), data_init=False
            ),
        ]
    )
    model.compile(optimizer, "categorical_crossentropy")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.random((n, 6, 6, 3), dtype=np.float32), np.eye(4, dtype="float32")[
        rng.integers(0, 4, n)
    ]


def _w(layer) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer.normalized_kernels()[0]).astype(np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("transpose", [False, True])
def test_the_probe_measures_what_the_layers_hold(transpose):
    model = _model(transpose=transpose)
    probe = WeightNormProbe(every=3)
    names = probe.attach(model)
    head = model.layers[-1]
    assert names[-3:] == [series_name("head", q) for q in ("v_norm", "g_mean", "effective_step")]
    x, y = _data(8)
    values = {}
    for step in range(1, 7):
        if step % 3 == 0:
            before = _w(head)
        model.train_on_batch(x, y)
        if step % 3 == 0:
            values = probe.after_step(step)
            change = np.linalg.norm(_w(head) - before) / np.linalg.norm(before)
            assert values["wn/head/effective_step"] == pytest.approx(change, rel=1e-4)
        else:
            assert probe.after_step(step) == {}
    norms = keras.ops.convert_to_numpy(head.kernel_norm(head.layer.kernel.value))
    assert values["wn/head/v_norm"] == pytest.approx(float(np.mean(norms)), rel=1e-5)
    assert values["wn/head/g_mean"] == pytest.approx(float(np.mean(head.g.numpy())), rel=1e-5)
    middle = "conv2d_transpose" if transpose else "conv2d"  # whatever Keras numbered it
    assert values[f"wn/{middle}/effective_step"] > 0


@pytest.mark.slow
def test_with_plain_sgd_the_norm_of_v_only_grows():
    """Salimans & Kingma (2016), section 2.1: gradient steps are orthogonal to v."""
    model = _model(keras.optimizers.SGD(0.5))
    plot = LivePlot(mode="off", diagnostics=True, diagnostics_every=2)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=3, callbacks=[plot], verbose=0)
    run = plot.history.runs[model.name]
    for layer in ("head", "conv2d"):
        norms = run.series[series_name(layer, "v_norm")].column("y")
        assert len(norms) == 12 and norms[-1] > norms[0]
        assert np.all(np.diff(norms) >= -1e-6 * norms[:-1])


@pytest.mark.slow
def test_diagnostics_are_drawn_as_a_second_row_in_every_renderer(fake_kernel):
    model = _model()
    x, y = _data(32)
    figures = {}
    for mode in ("static", "display", "widget"):
        plot = LivePlot(mode=mode, diagnostics=True, diagnostics_every=1)
        model.fit(x, y, batch_size=8, epochs=1, callbacks=[plot], verbose=0)
        figures[mode] = plot.figure().to_dict()
    figures["static bundle"] = fake_kernel.handles[0].bundle[PLOTLY_MIMETYPE]
    figures["display bundle"] = fake_kernel.handles[1].updates[-1][PLOTLY_MIMETYPE]
    widget = plot.renderer.widget
    figures["widget"] = {"data": [trace.to_plotly_json() for trace in widget.data]}
    figures["widget"]["layout"] = widget.layout.to_plotly_json()
    for mode, figure in figures.items():
        layout = figure["layout"]
        titles = [annotation["text"] for annotation in layout["annotations"]]
        assert titles[2:] == ["‖v‖ (mean over units)", "mean g", "effective step ‖Δw‖/‖w‖"], mode
        assert layout["yaxis5"]["type"] == "log", mode
        head = [trace for trace in figure["data"] if trace["name"] == "head"]
        assert {trace["yaxis"] for trace in head} == {"y3", "y4", "y5"}, mode
        assert all(len(trace["x"]) == 4 for trace in head), mode
        # One colour per layer, the same in its three subplots; one legend entry per layer.
        diagnostics = [trace for trace in figure["data"] if trace.get("legend") == "legend2"]
        colors = {trace["name"]: {trace["line"]["color"]} for trace in diagnostics}
        for trace in diagnostics:
            colors[trace["name"]].add(trace["line"]["color"])
        assert sorted(colors) == ["conv 1", "head"] and all(len(c) == 1 for c in colors.values())
        assert len(set().union(*colors.values())) == 2, mode
        shown = [trace["name"] for trace in diagnostics if trace.get("showlegend", True)]
        assert sorted(shown) == ["conv 1", "head"], mode
        assert "head<br>" in head[0]["hovertemplate"] and "%{y:.4g}" in head[0]["hovertemplate"]


def test_a_model_without_weight_norm_gets_an_empty_row():
    figure = FigureSpec(diagnostics=True).to_dict(LivePlot(mode="off").history)
    assert len(figure["layout"]["annotations"]) == 5 and figure["data"] == []
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert WeightNormProbe().attach(model) == []


@pytest.mark.slow
def test_the_runner_writes_one_value_per_epoch_to_history_and_metrics(tiny_data, tmp_path):
    plot = LivePlot(mode="off", diagnostics=True, diagnostics_every=2)
    params = ExperimentParams(
        weight_norm=True, epochs=2, batch_size=50, optimizer="sgd", output_dir=str(tmp_path)
    )
    result = run_experiment(params, callbacks=[plot], data=tiny_data)
    history = pd.read_csv(tmp_path / "weightnorm" / "history.csv")
    columns = [name for name in history.columns if name.startswith("wn/")]
    assert len(columns) == 5 * 3 and history[columns].notna().all().all()
    saved = json.loads((tmp_path / "weightnorm" / "metrics.json").read_text())
    assert saved["history"][columns[0]] == history[columns[0]].tolist()
    effective = next(name for name in columns if name.endswith("/effective_step"))
    steps = plot.history.runs["weightnorm"].series[effective].column("y")
    assert steps.size == 4  # 4 batches per epoch, every 2nd measured
    assert history[effective].tolist() == pytest.approx([steps[:2].mean(), steps[2:].mean()])
    assert result.history[columns[0]] == history[columns[0]].tolist()


def test_diagnostics_every_must_be_a_positive_integer():
    with pytest.raises(ValueError, match=r"Received: `diagnostics_every=0`"):
        LivePlot(mode="off", diagnostics=True, diagnostics_every=0)


def test_a_retrained_model_keeps_its_reader_another_model_gets_its_own(monkeypatch):
    import labkit.live.diagnostics as diagnostics

    made = []
    reader = diagnostics.value_reader
    monkeypatch.setattr(diagnostics, "value_reader", lambda read: made.append(1) or reader(read))
    model = _model()
    probe = WeightNormProbe(every=2)
    probe.attach(model)
    first = probe.measure()
    probe.attach(model)  # the next `fit` of the same model: not traced again
    assert len(made) == 1 and probe.measure() == pytest.approx(first, nan_ok=True)
    probe.attach(_model())  # another model: its layers are read
    assert len(made) == 2


@pytest.mark.slow
def test_an_epoch_ending_on_a_measurement_does_not_read_the_weights_again(monkeypatch):
    import labkit.live.diagnostics as diagnostics

    model = _model(keras.optimizers.SGD(0.5))
    probe = WeightNormProbe(every=2)
    probe.attach(model)
    x, y = _data(8)
    for step in (1, 2):
        model.train_on_batch(x, y)
        measured = probe.after_step(step)
    reads = []
    read = diagnostics.WeightNormProbe._read_layers
    monkeypatch.setattr(
        diagnostics.WeightNormProbe, "_read_layers", lambda self: reads.append(1) or read(self)
    )
    summary = probe.epoch_summary(step=2)
    assert reads == []
    for name, value in measured.items():
        assert summary[name] == pytest.approx(value)
    model.train_on_batch(x, y)  # one more update: now the summary reads the weights, once
    later = probe.epoch_summary(step=3)
    assert len(reads) == 1 and later["wn/head/v_norm"] > summary["wn/head/v_norm"]


def test_series_names_do_not_depend_on_how_many_layers_keras_named_before():
    from labkit.live.diagnostics import stable_names

    first, second = _model(), _model()  # Keras numbers the second one's layers on
    assert first.layers[0].layer.name != second.layers[0].layer.name
    assert WeightNormProbe().attach(first) == WeightNormProbe().attach(second)
    dense = [keras.layers.Dense(2) for _ in range(3)]
    assert stable_names([dense[2], dense[0], dense[1]]) == ["dense", "dense_1", "dense_2"]
    by_hand = [keras.layers.Conv2D(2, 3, name="dense"), dense[0]]
    assert stable_names(by_hand) == ["dense", dense[0].name]  # no two alike: all kept
