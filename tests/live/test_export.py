"""Exporting the live figure (HTML always; PNG/SVG through kaleido and the system's Chromium), and
the display-handle figure with a hint where a FigureWidget cannot render."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from labkit import LivePlot
from labkit.live import MetricHistory, environment
from labkit.live.figure import PLOTLY_MIMETYPE
from labkit.plotting import export

HAS_BROWSER = export.find_browser() is not None and importlib.util.find_spec("kaleido")


def _plot(mode: str = "off", **kwargs) -> LivePlot:
    plot = LivePlot(mode=mode, **kwargs)
    history = MetricHistory()
    history.start_run("regular", epochs=1, steps=2)
    for batch in range(2):
        history.add_batch("regular", 0, batch, {"loss": 1.0 - batch / 4, "accuracy": 0.5})
    history.add_epoch("regular", 0, {"val_loss": 0.9, "val_accuracy": 0.55})
    plot.history = history
    return plot


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    """A machine where kaleido finds no browser: an empty PATH and no BROWSER_PATH."""
    monkeypatch.delenv(export.BROWSER_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


def test_html_export_always_works_and_embeds_plotly(no_browser, tmp_path):
    path = _plot(smoothing=0.5).save(tmp_path / "out" / "live.html")
    text = path.read_text()
    assert "Regular ConvNet (train, raw)" in text and len(text) > 1_000_000


def test_without_a_browser_png_fails_with_one_line_saying_what_to_install(no_browser, tmp_path):
    with pytest.raises(RuntimeError) as error:
        _plot().save(tmp_path / "live.png")
    message = str(error.value)
    assert "\n" not in message and message.startswith("Cannot write live.png: ")
    assert "apt-get install chromium" in message and "BROWSER_PATH" in message
    assert not (tmp_path / "live.png").exists()


def test_export_writes_the_html_even_when_the_png_fails(no_browser, tmp_path):
    with pytest.raises(RuntimeError, match=r"^Wrote .*live\.html; Cannot write live\.png"):
        _plot().export(tmp_path / "live")
    assert (tmp_path / "live.html").is_file()


def test_a_browser_path_that_is_not_there_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(export.BROWSER_ENV, str(tmp_path / "chrome"))
    assert export.find_browser() is None
    assert f"tried BROWSER_PATH='{tmp_path / 'chrome'}'" in export.image_export_problem()


def test_unknown_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.html, \.png, \.svg.*Received: `path='.*live\.txt'`"):
        _plot().save(tmp_path / "live.txt")


def test_the_toolbar_export_shows_its_outcome_in_one_line(no_browser, fake_kernel, tmp_path):
    plot = _plot(mode="widget")
    plot.show()
    plot.toolbar.export_path.value = str(tmp_path / "figure")
    plot.toolbar.export(wait=True)
    status = plot.toolbar.status.value
    assert "Wrote " in status and "Cannot write figure.png" in status and "#d62728" in status
    assert (tmp_path / "figure.html").is_file() and not plot.toolbar.export_button.disabled


@pytest.mark.slow
@pytest.mark.skipif(not HAS_BROWSER, reason="kaleido or a Chrome-family browser is missing")
def test_png_and_svg_go_through_kaleido_and_the_system_browser(tmp_path, monkeypatch):
    monkeypatch.delenv(export.BROWSER_ENV, raising=False)
    plot = _plot(diagnostics=True)
    paths = export.save_figures(
        {tmp_path / "live.png": plot.figure(), tmp_path / "live.svg": plot.figure()}
    )
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text()[:500]
    assert export.BROWSER_ENV not in os.environ  # set only during the call


def test_where_anywidget_is_missing_the_widget_falls_back_with_a_hint(fake_kernel, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        environment.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "anywidget" else real(name, *args),
    )
    assert environment.widget_problem() == "anywidget not installed: pip install anywidget"
    plot = _plot(mode="widget")
    plot.show()
    assert plot.mode == "display" and plot.toolbar is None
    hint, figure = fake_kernel.displayed
    assert hint["text/plain"].startswith("labkit: the live widget cannot render here (anywidget")
    assert "\n" not in hint["text/plain"] and "labkit-live-hint" in hint["text/html"]
    assert PLOTLY_MIMETYPE in figure


def test_a_lab_without_anywidgets_front_end_is_detected(monkeypatch, tmp_path):
    manager = tmp_path / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    manager.mkdir(parents=True)
    monkeypatch.setattr(environment, "_lab_extension_dirs", lambda: [manager.parents[1]])
    assert "anywidget's JupyterLab extension is missing" in environment.widget_problem()
    shutil.copytree(manager, manager.parents[1] / "anywidget")
    assert environment.widget_problem() is None
