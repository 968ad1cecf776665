"""The notebook in a real JupyterLab, driven by headless Chromium: the live figure grows while
training runs (the largest gap between two redraws is recorded), its training curves are per-step
values, smoothed, continuous across epochs with the epochs' ends marked, its diagnostics row
shows one colour and one legend entry per layer, its toolbar's controls change the figure
(Keras' running means among them) and export it, and the panel's Train and Stop buttons work
while the kernel trains. The live widget also renders, and its controls act, in Notebook 7.

Needs Debian's `chromium` on PATH (Playwright's own browser download is not used) and the
offline CIFAR-10 copy. Screenshots, and `browser_timings.json` with the redraw gaps, go to
`$LABKIT_SCREENSHOT_DIR` (default: the test's tmp dir).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill
import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
PlaywrightTimeout = playwright_api.TimeoutError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "weight_norm.ipynb"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TINY = {"epochs": 4, "train_limit": 2000, "test_limit": 500, "diagnostics": True}
# A notebook for Notebook 7: a live figure (auto mode) with a few points, no training.
WIDGET_CHECK = "widget_check.ipynb"
WIDGET_CHECK_CODE = """from labkit import LivePlot
from labkit.live import MetricHistory

history = MetricHistory()
history.start_run("regular", epochs=2, steps=20)
for epoch in range(2):
    for batch in range(20):
        loss = 2.0 / (1 + epoch + batch / 20) + 0.2 * (batch % 3)
        history.add_batch("regular", epoch, batch, {"loss": loss, "accuracy": 0.1 + epoch / 4})
    history.add_epoch("regular", epoch, {"val_loss": 1.5 - epoch / 4, "val_accuracy": 0.3})
history.end_run("regular")
plot = LivePlot()  # auto: a kernel that Notebook 7's server started gets the widget
plot.history = history
plot.show()"""
# Generous: two shared cores run the server, the kernel (TensorFlow) and Chromium at once.
TIMEOUT_MS = 180_000
# The first point comes after the kernel started, imported TensorFlow, loaded the data and
# traced the first step, while the other test process may be training on the same two cores.
FIRST_POINT_MS = 420_000
# The points of every plotly figure on the page, whether the live figure's title shows a run
# in progress (its ETA), and whether the kernel is busy.
SAMPLE_JS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    const points = plots.flatMap(plot => plot.data || [])
        .reduce((total, trace) => total + (trace.x ? trace.x.length : 0), 0);
    const title = String(plots[0]?.layout?.title?.text ?? '');
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return {points, training: title.includes('ETA'), busy: indicator?.dataset.status === 'busy'};
}"""
# Records, on the first plotly figure, when it was redrawn and whether a run was in progress.
RECORD_REDRAWS_JS = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    if (window.labkitRedraws || !plot || !plot.on) return Boolean(window.labkitRedraws);
    window.labkitRedraws = [];
    plot.on('plotly_afterplot', () => window.labkitRedraws.push(
        [performance.now(), String(plot.layout?.title?.text ?? '').includes('ETA')]));
    return true;
}"""
# The largest gap (seconds) between two redraws of the live figure while a run was in progress.
LARGEST_GAP_JS = """() => {
    const times = (window.labkitRedraws || []).filter(r => r[1]).map(r => r[0]);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
    return {gap: gap / 1000, redraws: times.length};
}"""
# The first plotly figure's axis types and titles, its trace names, its training curves (the
# first run's smoothed loss), its epoch marks and its diagnostics traces.
LIVE_STATE_JS = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    const data = plot.data || [];
    const train = data.find(t => String(t.name).endsWith('(train)'));
    return {y: plot.layout.yaxis.type, x: plot.layout.xaxis.title.text,
            names: data.map(t => String(t.name)),
            titles: (plot.layout.annotations || []).map(a => String(a.text)),
            // Gaps: null in JSON, NaN in a widget's typed arrays.
            train: train ? Array.from(train.y, v => Number.isNaN(v) ? null : v) : [],
            marks: (plot.layout.shapes || []).length,
            diagnostics: data.filter(t => t.legend === 'legend2').map(t => ({
                name: String(t.name), color: t.line.color, legend: t.showlegend !== false,
                hover: String(t.hovertemplate)}))};
}"""
# Static plotly figures (the JSON mimetype) are drawn by jupyterlab-plotly in this class; a
# FigureWidget's view is not.
STATIC_PLOT_CLASS = "jp-RenderedPlotly"
# What a notebook writes to stderr, tracebacks included.
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# True once the page has more points than `before`, or the kernel has gone idle.
GROWN_JS = f"before => {{ const s = ({SAMPLE_JS})(); return s.points > before || !s.busy; }}"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's `chromium` is not installed (on PATH)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


def _poll(check, timeout: float, what: str):
    """Calls `check` until it returns something truthy (for HTTP state: no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"{what} within {timeout} s")


def _start_session(url: str, token: str, process: subprocess.Popen, notebook: str) -> None:
    """Waits for the server, then starts the notebook's kernel.

    Starting the session before the page opens avoids a race in which JupyterLab replaces
    the kernel it started while "Run All" is already being sent to the first one.
    """

    def answers():
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode}")
        try:
            return _request(f"{url}/api/status", token) or True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    _poll(answers, 120, f"jupyter lab did not answer at {url}")
    session = _request(
        f"{url}/api/sessions",
        token,
        "POST",
        {"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert session["kernel"]["id"], session


def _stop_server(process: subprocess.Popen, url: str, token: str) -> None:
    if process.poll() is not None:
        return
    try:
        _request(f"{url}/api/shutdown", token, method="POST")
        process.wait(timeout=30)
    except Exception:
        # The server did not shut down by itself: end its process group (it and its kernels).
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def lab(offline_cifar10, tmp_path) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab on 127.0.0.1 serving a copy of the notebook prepared with tiny parameters."""
    root = tmp_path / "lab"
    root.mkdir()
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(root / NOTEBOOK.name),
        parameters={**TINY, "output_dir": str(tmp_path / "runs")},
        prepare_only=True,
        kernel_name="python3",
    )
    settings = tmp_path / "settings"
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    # No news or update checks: nothing to fetch offline, no popup over the notebook.
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Start the notebook's preferred kernel instead of asking ("Select Kernel", seen in CI on
    # a cold start, where the dialog could stay open after its answer).
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    env.pop("LABKIT_LIVE", None)  # the kernel must pick the widget renderer by itself
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = (tmp_path / "jupyter.log").open("wb")
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    check = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGET_CHECK_CODE)])
    check.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(check, root / WIDGET_CHECK)
    url = f"http://127.0.0.1:{port}"
    try:
        for notebook in (NOTEBOOK.name, WIDGET_CHECK):
            _start_session(url, token, process, notebook)
        yield url, token, root
    finally:
        _stop_server(process, url, token)
        log.close()


def _dismiss_dialogs(page) -> None:
    """Accepts any JupyterLab dialog over the page, printing its text for the test log.

    A dialog (seen once in CI, on a cold machine) takes every click until it is answered.
    """
    dialogs = page.locator(".jp-Dialog")
    for _ in range(5):
        if not dialogs.count():
            return
        dialog = dialogs.first
        print(f"JupyterLab showed a dialog, accepted: {dialog.inner_text()!r}")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click(timeout=10_000)
        dialog.wait_for(state="detached", timeout=60_000)
        # An answer may restart or reconnect the kernel: let it settle before going on.
        page.wait_for_timeout(1_000)
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')


def _run_all_cells(page, started: str = '.jp-InputPrompt:has-text("[1]")') -> None:
    """Run > Run All Cells, retried if a dialog got in the way or the kernel dropped the
    request unseen; `started` is what shows once the notebook runs."""
    for _ in range(3):
        _dismiss_dialogs(page)
        try:
            page.locator(".lm-MenuBar-item", has_text="Run").first.click(timeout=30_000)
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click(timeout=30_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close a half-open menu before the next try
            continue
        try:
            page.locator(started).first.wait_for(timeout=60_000)
            return
        except PlaywrightTimeout:
            if page.locator(".jp-InputPrompt", has_text="[*]").count():
                raise
    raise AssertionError("Run > Run All Cells did not start the notebook after 3 tries")


@contextlib.contextmanager
def _page(screenshot_dir: Path, failure: str, width: int) -> Iterator:
    """A page of headless Chromium; on a failure, a screenshot named `failure` and any dialog."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            yield page
        except Exception:
            page.screenshot(path=str(screenshot_dir / failure))
            for text in page.locator(".jp-Dialog").all_inner_texts():
                print(f"JupyterLab dialog open at the failure: {text!r}")
            for text in page.locator(STDERR_OUTPUT).all_inner_texts():
                print(f"The notebook's stderr and errors at the failure:\n{text[-3000:]}")
            raise
        finally:
            browser.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("LABKIT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.timeout(900)
def test_live_figure_grows_while_the_notebook_trains_in_jupyterlab(lab, screenshot_dir):
    url, token, root = lab
    with _page(screenshot_dir, "failure.png", width=1400) as page:
        page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
        # On a cold start JupyterLab may first ask for a kernel ("Select Kernel", seen in CI):
        # the kernel only comes up once that dialog is answered.
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"], .jp-Dialog')
        _dismiss_dialogs(page)
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')

        _run_all_cells(page)

        # Sample the live figure whenever it grows, until three samples were taken while
        # a run was in progress or the notebook finished.
        page.wait_for_function(f"({SAMPLE_JS})().points > 0", timeout=FIRST_POINT_MS)
        page.wait_for_function(RECORD_REDRAWS_JS)
        samples = [page.evaluate(SAMPLE_JS)]
        while sum(s["training"] for s in samples) < 3 and samples[-1]["busy"]:
            page.wait_for_function(GROWN_JS, arg=samples[-1]["points"])
            samples.append(page.evaluate(SAMPLE_JS))
            if len(samples) == 2:
                live = page.locator(".js-plotly-plot").first
                live.screenshot(path=str(screenshot_dir / "live_figure_training.png"))
        # Auto-detection picked the widget renderer: the live figure is a widget view.
        first_classes = page.locator(".js-plotly-plot").first.get_attribute("class")
        assert STATIC_PLOT_CLASS not in first_classes, first_classes
        during = [s["points"] for s in samples if s["training"]]
        assert len(during) >= 2, f"too few samples while training ran: {samples}"
        assert during == sorted(set(during)), f"points did not grow: {samples}"
        live = page.locator(".js-plotly-plot").first

        # The run ends with the panel (widgets render only where widgets work).
        train = page.locator("button.widget-button", has_text="Train")
        train.wait_for()
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        titles = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot')].map(p => p.layout.title.text)"
        )
        assert any("WeightNorm ConvNet: completed" in str(t) for t in titles), titles
        timings = page.evaluate(LARGEST_GAP_JS)
        print(
            f"live figure: {timings['redraws']} redraws while training, largest gap "
            f"{timings['gap']:.2f} s"
        )
        (screenshot_dir / "browser_timings.json").write_text(json.dumps(timings))
        assert timings["redraws"] >= 3 and timings["gap"] < 30, timings
        live.scroll_into_view_if_needed()
        live.screenshot(path=str(screenshot_dir / "live_figure.png"))
        page.screenshot(path=str(screenshot_dir / "jupyterlab.png"))

        # Per-step training values, smoothed with the raw values faint behind, one curve across
        # the epochs (no gap), whose ends are marked.
        state = page.evaluate(LIVE_STATE_JS)
        assert any(name.endswith("(train, raw)") for name in state["names"]), state["names"]
        assert len(state["train"]) > TINY["epochs"] and None not in state["train"], state["train"]
        assert state["marks"] >= 2 * (TINY["epochs"] - 1), state["marks"]  # loss and accuracy

        # The weight-norm diagnostics row (the notebook's `diagnostics` parameter): a colour
        # and one legend entry per layer, with readable names, the values on hover.
        assert "‖v‖ (mean over units)" in state["titles"], (
            "no diagnostics row: the notebook's `diagnostics` parameter must reach "
            f"LivePlot(diagnostics=...); subplot titles: {state['titles']}"
        )
        layers = ["conv 1", "conv 2", "dense 1", "dense 2", "dense 3"]
        diagnostics = state["diagnostics"]
        assert [d["name"] for d in diagnostics if d["legend"]] == layers, diagnostics
        colors = {d["name"]: {e["color"] for e in diagnostics if e["name"] == d["name"]}
                  for d in diagnostics}  # fmt: skip
        assert all(len(c) == 1 for c in colors.values()) and len(set().union(*colors.values())) == 5
        assert all(
            "%{y" in d["hover"] and "WeightNorm ConvNet · " in d["hover"] for d in diagnostics
        )

        # The toolbar's controls act on the curves drawn so far.
        _use_live_controls(page, page.locator(".labkit-live-toolbar").first)
        toolbar = page.locator(".labkit-live-toolbar").first
        toolbar.scroll_into_view_if_needed()
        page.locator(".labkit-live").first.screenshot(
            path=str(screenshot_dir / "live_controls.png")
        )
        toolbar.locator(".labkit-live-export").click()
        status = toolbar.locator(".labkit-live-export-status")
        status.get_by_text("Wrote").wait_for()
        assert "live_figure.png" in status.inner_text(), status.inner_text()
        assert (root / "live_figure.png").read_bytes()[:4] == b"\x89PNG"
        assert (root / "live_figure.html").is_file()

        # Train from the panel, Stop it, and keep what was computed.
        panel_points = "() => { const plots = document.querySelectorAll('.js-plotly-plot');"
        panel_points += " const data = plots[plots.length - 1].data || [];"
        panel_points += " return data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0); }"
        before = page.evaluate(panel_points)
        train.click()
        page.wait_for_function(f"({panel_points})() > {before}")
        page.locator("button.widget-button", has_text="Stop").click()
        page.get_by_text("Stopped.").wait_for()
        status = page.get_by_text("Stopped.").inner_text()
        assert "stopped" in status, status
        page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "panel_stopped.png"))


def _use_live_controls(page, toolbar) -> None:
    """Shows Keras' running means and back, switches the live figure's loss axis to log, its
    x-axis to steps, smoothing to 0.8, and checks that each change reached the figure."""
    toolbar.locator(".labkit-live-train-values button", has_text="running mean").click()
    # Keras' running means restart every epoch: the curve breaks between epochs.
    page.wait_for_function(f"({LIVE_STATE_JS})().train.includes(null)")
    toolbar.locator(".labkit-live-train-values button", has_text="per step").click()
    page.wait_for_function(f"!({LIVE_STATE_JS})().train.includes(null)")
    toolbar.locator(".labkit-live-log-y button", has_text="log").click()
    page.wait_for_function(f"({LIVE_STATE_JS})().y === 'log'")
    toolbar.locator(".labkit-live-x-axis button", has_text="steps").click()
    page.wait_for_function(f"({LIVE_STATE_JS})().x === 'step'")
    # The smoothed curve before: it must change when the smoothing does.
    page.evaluate(f"() => {{ window.labkitTrain = JSON.stringify(({LIVE_STATE_JS})().train); }}")
    readout = toolbar.locator(".labkit-live-smoothing .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("0.8")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"({LIVE_STATE_JS})().names.some(n => n.endsWith('(train, raw)')) && "
        f"JSON.stringify(({LIVE_STATE_JS})().train) !== window.labkitTrain"
    )


@pytest.mark.timeout(600)
def test_the_live_widget_renders_and_its_controls_act_in_notebook_7(lab, screenshot_dir):
    pytest.importorskip("notebook", reason="Notebook 7 (the `notebook` package) is not installed")
    url, token, root = lab
    with _page(screenshot_dir, "notebook7_failure.png", width=1300) as page:
        page.goto(f"{url}/notebooks/{WIDGET_CHECK}?token={token}")
        page.wait_for_selector(".jp-Notebook")
        # Notebook 7 numbers its prompts differently: wait for the live figure's toolbar.
        _run_all_cells(page, started=".labkit-live-toolbar")
        toolbar = page.locator(".labkit-live-toolbar").first
        page.wait_for_function(f"({SAMPLE_JS})().points > 0")
        first_classes = page.locator(".js-plotly-plot").first.get_attribute("class")
        assert STATIC_PLOT_CLASS not in first_classes, first_classes  # the widget's view
        _use_live_controls(page, toolbar)
        page.locator(".labkit-live").first.screenshot(
            path=str(screenshot_dir / "notebook7_live_controls.png")
        )
