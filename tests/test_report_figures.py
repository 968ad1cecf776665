"""labkit.report's figures: curves with smoothing and log controls, parallel coordinates over the
settings of a sweep (seeds averaged out), written as HTML and PNG beside summary.csv."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from test_report import CURVES, write_metrics

from labkit import report
from labkit.live import ema
from labkit.live.export import find_browser

HAS_BROWSER = find_browser() is not None and importlib.util.find_spec("kaleido")
RATES = (0.001, 0.01, 0.1)


@pytest.fixture
def sweep(tmp_path):
    """The test_report curves, plus a learning-rate grid (one rate per seed) and losses."""
    for (weight_norm, data_init, seed), curve in CURVES.items():
        folder = tmp_path / f"data_init={data_init},seed={seed}"
        write_metrics(
            folder / ("weightnorm" if weight_norm else "regular"),
            weight_norm=weight_norm,
            data_init=data_init,
            seed=seed,
            curve=curve,
            optimizer="sgd" if seed % 2 else "adam",
        )
    return tmp_path


def _lines(figure):
    return {trace.name: trace for trace in figure.data if trace.showlegend is not False}


def test_smoothed_curves_keep_the_raw_mean_faint_behind(sweep):
    runs = report.load_runs(sweep)
    figure = report.curves_figure(runs, smoothing=0.5)
    names = [trace.name for trace in figure.data]
    line = _lines(figure)["regular, optimizer=adam (n=2)"]
    raw = figure.data[names.index("regular, optimizer=adam (raw)")]
    assert names.index("regular, optimizer=adam (raw)") < names.index(line.name)
    assert raw.opacity < 1 and raw.visible is True and raw.showlegend is False
    np.testing.assert_allclose(line.y, ema(np.asarray(raw.y), 0.5))


def test_curve_controls_offer_smoothing_and_a_log_axis_in_the_browser(sweep):
    runs = report.load_runs(sweep)
    figure = report.curves_figure(runs, target=0.5, controls=True, log_y=True)
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
    runs = report.load_runs(sweep)
    with pytest.raises(ValueError, match=r"Received: `metric='accuracy'`"):
        report.curves_figure(runs, metric="accuracy")
    with pytest.raises(ValueError, match=r"Received: `smoothing=1`"):
        report.curves_figure(runs, smoothing=1)
    assert report.curves_figure(runs, metric="val_loss").data == ()  # no run recorded it


def test_the_parallel_figure_has_a_line_per_setting_with_seeds_averaged(sweep):
    runs = report.load_runs(sweep)
    figure = report.parallel_figure(runs)
    (parcoords,) = figure.data
    labels = [dimension.label for dimension in parcoords.dimensions]
    assert labels == [
        "weight_norm",
        "data_init",
        "optimizer",
        "final val_accuracy (mean)",
        "best val_accuracy (mean)",
    ]
    summary = report.summarize(runs).set_index("setting")
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
    dimension = report.parallel_figure(report.load_runs(tmp_path)).data[0].dimensions[2]
    assert dimension.label == "learning_rate (log)"
    np.testing.assert_allclose(sorted(set(dimension.values)), [-3, -2, -1])
    assert list(dimension.ticktext) == ["0.001", "0.01", "0.1"]


def test_figures_are_written_as_html_beside_the_summary(sweep, tmp_path):
    paths = report.write_report(sweep, tmp_path / "report", images=False)
    assert {path.name for path in paths.values()} == {
        "summary.csv",
        "summary.md",
        "curves.html",
        "parallel.html",
    }
    html = paths["figure"].read_text()
    assert (
        '"sliders"' in html
        and '"updatemenus"' in html
        and "parcoords" in paths["parallel"].read_text()
    )


def test_without_a_browser_the_pngs_are_left_out_with_one_warning(sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-browser"))
    with pytest.warns(UserWarning, match=r"^The report's PNG figures are left out: no Chrome"):
        paths = report.write_report(sweep, tmp_path / "report")
    assert "parallel_png" not in paths and paths["parallel"].is_file()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BROWSER, reason="kaleido or a Chrome-family browser is missing")
def test_pngs_are_written_beside_the_summary(sweep, tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    paths = report.write_report(sweep, tmp_path / "report")
    for kind in ("figure_png", "parallel_png"):
        assert (
            paths[kind].read_bytes()[:4] == b"\x89PNG" and paths[kind].parent == tmp_path / "report"
        )
