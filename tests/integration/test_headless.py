"""The notebook run headless by papermill: one static live figure, no widgets, HTML export."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import papermill
import plotly
import pytest
from nbconvert import HTMLExporter

from labkit.live.figure import PLOTLY_MIMETYPE

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "weight_norm.ipynb"
WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executed(cifar10_env, tmp_path_factory) -> nbformat.NotebookNode:
    """The notebook executed by papermill with tiny parameters."""
    folder = tmp_path_factory.mktemp("headless")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in cifar10_env.items():
            patch.setenv(name, value)
        patch.delenv("LABKIT_LIVE", raising=False)
        patch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as users run it: labkit sets it
        # As if papermill were started from a notebook in JupyterLab (a sweep): the kernel
        # inherits JPY_SESSION_NAME, and must still draw statically.
        patch.setenv("JPY_SESSION_NAME", str(folder / "sweep.ipynb"))
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(folder / "executed.ipynb"),
            parameters={
                "epochs": 1,
                "train_limit": 2000,
                "test_limit": 500,
                "output_dir": str(folder / "runs"),
            },
            cwd=str(folder),
            kernel_name="python3",
            progress_bar=False,
        )
    assert (folder / "executed.ipynb").stat().st_size < 1_000_000  # no plotly.js, no widgets
    return nbformat.read(folder / "executed.ipynb", as_version=4)


def _code_cell(notebook, text: str):
    return next(c for c in notebook.cells if c.cell_type == "code" and text in c.source)


@pytest.mark.timeout(600)
def test_papermill_run_keeps_a_plain_notebook_with_the_live_figure(executed):
    assert "widgets" not in executed.metadata
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(WIDGET_MIMETYPE in output.get("data", {}) for output in outputs)

    train = _code_cell(executed, "labkit.LivePlot(")
    figures = [o["data"] for o in train.outputs if PLOTLY_MIMETYPE in o.get("data", {})]
    assert len(figures) == 1, "the live figure must be shown once, at the end"
    live = figures[0][PLOTLY_MIMETYPE]
    assert {trace["legendgroup"] for trace in live["data"]} == {"regular", "weightnorm"}
    assert "WeightNorm ConvNet: completed" in live["layout"]["title"]["text"]
    assert 'src="https://cdn.plot.ly/' in figures[0]["text/html"]

    # TensorFlow's and CUDA's C++ start-up lines stay out of the notebook.
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for noise in ("absl::InitializeLog", "cuda", "cuInit", "I0000", "E0000", "oneDNN"):
        assert noise not in streams, streams

    accuracy = _code_cell(executed, "accuracy_figure")
    assert any("text/html" in o.get("data", {}) for o in accuracy.outputs)
    assert _code_cell(executed, "show_panel").outputs == []


@pytest.mark.browser
@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's `chromium` is not installed")
def test_the_html_export_draws_both_figures_in_a_browser(executed, tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "executed.html"
    page_file.write_text(HTMLExporter().from_notebook_node(executed)[0])

    def offline(route):
        # The export loads plotly.js (and require.js) from CDNs; serve plotly.js locally.
        url = route.request.url
        if url.startswith("https://cdn.plot.ly/"):
            route.fulfill(path=str(PLOTLY_JS), content_type="text/javascript")
        elif url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--headless", "--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.route("**/*", offline)
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot').length === 2", timeout=120_000
            )
            traces = page.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')].map(p => p.data.length)"
            )
        finally:
            browser.close()
    # live: 2 runs x (smoothed and raw loss and accuracy, val loss and accuracy); accuracy:
    # 2 runs x (train, val)
    assert traces == [12, 4]
