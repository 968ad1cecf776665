"""labkit.analysis.figures: curves per setting with bands, smoothing and log controls, and
parallel coordinates over the settings of a sweep (seeds averaged out)."""

from __future__ import annotations

import numpy as np
import plotly.colors
import pytest
from sweep_runs import RATES, write_metrics

from labkit import analysis
from labkit.plotting import ema


def test_curves_figure_draws_mean_and_std_band_per_setting(runs_dir):
    figure = analysis.curves_figure(analysis.load_runs(runs_dir), target=0.5)

    lines = {trace.name: trace for trace in figure.data if trace.showlegend is not False}
    assert set(lines) == {
        "regular (n=3)",
        "WeightNorm, data_init off (n=2)",
        "WeightNorm, data_init on (n=3)",
    }
    assert list(lines["regular (n=3)"].y) == pytest.approx([0.8 / 3, 1.5 / 3, 0.6])
    assert lines["regular (n=3)"].line.color in plotly.colors.sequential.Reds
    assert lines["WeightNorm, data_init on (n=3)"].line.color in plotly.colors.sequential.Blues
    assert lines["WeightNorm, data_init on (n=3)"].line.dash is None
    assert lines["WeightNorm, data_init off (n=2)"].line.dash == "dash"
    assert len(figure.data) == 2 * len(lines)  # a band behind every line
    assert figure.layout.shapes[0].y0 == 0.5


def _lines(figure):
    return {trace.name: trace for trace in figure.data if trace.showlegend is not False}


def test_smoothed_curves_keep_the_raw_mean_faint_behind(sweep):
    runs = analysis.load_runs(sweep)
    figure = analysis.curves_figure(runs, smoothing=0.5)
    names = [trace.name for trace in figure.data]
    line = _lines(figure)["regular, optimizer=adam (n=2)"]
    raw = figure.data[names.index("regular, optimizer=adam (raw)")]
    assert names.index("regular, optimizer=adam (raw)") < names.index(line.name)
    assert raw.opacity < 1 and raw.visible is True and raw.showlegend is False
    np.testing.assert_allclose(line.y, ema(np.asarray(raw.y), 0.5))


def test_curve_controls_offer_smoothing_and_a_log_axis_in_the_browser(sweep):
    runs = analysis.load_runs(sweep)
    figure = analysis.curves_figure(runs, target=0.5, controls=True, log_y=True)
    assert figure.layout.yaxis.type == "log"
    (buttons,) = figure.layout.updatemenus
    assert [b.args[0]["yaxis.type"] for b in buttons.buttons] == ["linear", "log"]
    assert buttons.active == 1
    (slider,) = figure.layout.sliders
    assert [step.label for step in slider.steps] == ["0", "0.3", "0.6", "0.9"]
    assert slider.active == 0
    heavy = slider.steps[-1].args[0]
    assert len(heavy["y"]) == len(figure.data) and heavy["visible"][1] is True
    line = next(i for i, trace in enumerate(figure.data) if str(trace.name).endswith("(n=2)"))
    np.testing.assert_allclose(heavy["y"][line], ema(np.asarray(figure.data[line].y), 0.9))
    assert slider.steps[0].args[0]["visible"][1] is False  # no raw curve when unsmoothed


def test_curves_of_other_metrics_and_bad_arguments(sweep):
    runs = analysis.load_runs(sweep)
    with pytest.raises(ValueError, match=r"Received: `metric='accuracy'`"):
        analysis.curves_figure(runs, metric="accuracy")
    with pytest.raises(ValueError, match=r"Received: `smoothing=1`"):
        analysis.curves_figure(runs, smoothing=1)
    assert analysis.curves_figure(runs, metric="val_loss").data == ()  # no run recorded it


def test_the_parallel_figure_has_a_line_per_setting_with_seeds_averaged(sweep):
    runs = analysis.load_runs(sweep)
    figure = analysis.parallel_figure(runs)
    (parcoords,) = figure.data
    labels = [dimension.label for dimension in parcoords.dimensions]
    assert labels == [
        "weight_norm",
        "data_init",
        "optimizer",
        "final val_accuracy (mean)",
        "best val_accuracy (mean)",
    ]
    summary = analysis.summarize(runs).set_index("setting")
    final = parcoords.dimensions[3].values
    assert len(final) == len(summary) == 6
    np.testing.assert_allclose(sorted(final), sorted(summary["final_val_accuracy_mean"]))
    weight_norm, data_init = parcoords.dimensions[:2]
    assert list(weight_norm.ticktext) == ["WeightNorm", "regular"]
    assert list(data_init.ticktext) == ["n/a", "off", "on"]  # regular runs ignore data_init
    assert parcoords.dimensions[3].range == parcoords.dimensions[4].range
    assert "6 settings (8 runs)" in figure.layout.title.text


def test_a_learning_rate_grid_gets_a_log_axis(tmp_path):
    for seed in range(2):
        for rate in RATES:
            write_metrics(
                tmp_path / f"lr={rate},seed={seed}" / "weightnorm",
                weight_norm=True,
                data_init=True,
                seed=seed,
                curve=[0.2, 0.3 + rate],
                learning_rate=rate,
            )
    dimension = analysis.parallel_figure(analysis.load_runs(tmp_path)).data[0].dimensions[2]
    assert dimension.label == "learning_rate (log)"
    np.testing.assert_allclose(sorted(set(dimension.values)), [-3, -2, -1])
    assert list(dimension.ticktext) == ["0.001", "0.01", "0.1"]
