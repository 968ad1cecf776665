"""labkit.live.environment: which renderer suits where the code runs."""

from __future__ import annotations

import sys
import types

import pytest

from labkit.live import detect_mode, resolve_mode
from labkit.live.environment import in_kernel, started_by_jupyter_server


def test_plain_python_is_static_even_inside_vs_code(monkeypatch):
    monkeypatch.setenv("VSCODE_PID", "1234")
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/notebook.ipynb")
    assert not in_kernel()
    assert detect_mode() == "static"


def test_a_kernel_without_hints_is_headless(fake_kernel):
    assert resolve_mode() == "static"  # papermill, nbclient


def test_colab_and_vs_code_get_the_display_renderer(fake_kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert resolve_mode("auto") == "display"
    monkeypatch.delitem(sys.modules, "google.colab")
    monkeypatch.setenv("VSCODE_PID", "1234")
    assert resolve_mode(None) == "display"


def test_a_kernel_started_by_a_jupyter_server_gets_the_widget(fake_kernel, monkeypatch):
    path = "/work/notebooks/weight_norm.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", path)
    fake_kernel.connection["jupyter_session"] = path
    assert started_by_jupyter_server()
    assert resolve_mode() == "widget"


def test_papermill_started_from_a_notebook_stays_static(fake_kernel, monkeypatch):
    # The variable is inherited from the notebook that ran papermill; the kernel's own
    # connection file, written by papermill's kernel manager, has no session.
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/sweep.ipynb")
    assert not started_by_jupyter_server()
    assert resolve_mode() == "static"


def test_the_environment_variable_overrides_detection(fake_kernel, monkeypatch):
    monkeypatch.setenv("VSCODE_PID", "1234")
    monkeypatch.setenv("LABKIT_LIVE", "off")
    assert resolve_mode() == "off"
    monkeypatch.setenv("LABKIT_LIVE", "auto")
    assert resolve_mode() == "display"


def test_an_explicit_mode_overrides_the_environment_variable(monkeypatch):
    monkeypatch.setenv("LABKIT_LIVE", "static")
    assert resolve_mode("widget") == "widget"


@pytest.mark.parametrize(
    ("mode", "variable", "received"),
    [
        ("plotly", None, "`mode='plotly'`"),
        (None, "browser", "`LABKIT_LIVE='browser'`"),
    ],
)
def test_unknown_modes_fail_with_one_line(monkeypatch, mode, variable, received):
    if variable:
        monkeypatch.setenv("LABKIT_LIVE", variable)
    with pytest.raises(ValueError) as error:
        resolve_mode(mode)
    message = str(error.value)
    assert "'auto', 'widget', 'display', 'static', 'off'" in message
    assert message.endswith(f"Received: {received}") and "\n" not in message
