"""Which renderer suits where the code runs: a widget, a re-displayed figure, or one at the end.

`resolve_mode` picks, in this order:

1. the explicit `mode` argument, then the `LABKIT_LIVE` environment variable;
2. `"static"` outside an IPython kernel (plain scripts, the IPython terminal);
3. `"display"` in Colab (`google.colab` imported) and VS Code (`VSCODE_PID` set), whose
   frontends are reported not to render anywidget-based widgets such as `FigureWidget`;
4. `"widget"` in a kernel that a Jupyter server started for a notebook (JupyterLab,
   Notebook 7): jupyter_server sets `JPY_SESSION_NAME` in such a kernel's environment and
   writes the same path as `jupyter_session` into its connection file;
5. `"static"` otherwise: papermill and nbclient start kernels without either.

The connection-file check matters for papermill started from inside a notebook (a sweep
launched from JupyterLab): its kernel inherits `JPY_SESSION_NAME` but not the connection entry.

`widget_problem` says when a `FigureWidget` cannot render even where widgets are wanted: its
Python libraries are missing, or the Jupyter installation that this kernel can see has the
widget manager but not anywidget's front end (which draws plotly's `FigureWidget`). `LivePlot`
then draws through a display handle instead, below a one-line hint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from labkit._checks import check_choice

__all__ = [
    "resolve_mode",
    "requested_mode",
    "detect_mode",
    "in_kernel",
    "started_by_jupyter_server",
    "widget_problem",
    "LIVE_ENV",
    "LIVE_MODES",
    "RESOLVED_MODES",
]

LIVE_ENV = "LABKIT_LIVE"
# What `live` (a notebook parameter, `LivePlot(mode=...)`) and `LABKIT_LIVE` accept.
LIVE_MODES = ("auto", "widget", "display", "static", "off")
# What "auto" resolves to.
RESOLVED_MODES = LIVE_MODES[1:]


def requested_mode(mode: str | None = None, name: str = "mode") -> str | None:
    """The mode asked for by `mode`, else by `LABKIT_LIVE`; `None` when both say "auto".

    Both are validated, so a bad `LABKIT_LIVE` fails here (before any work starts) even
    though detection would only read it later.

    Args:
        mode: One of `LIVE_MODES`, or `None`.
        name: The argument's name in error messages (`"live"` for the notebook parameter).

    Example:

    >>> requested_mode("auto")  # with LABKIT_LIVE unset
    >>> requested_mode("static")
    'static'
    """
    asked = [(name, mode), (LIVE_ENV, os.environ.get(LIVE_ENV))]
    asked = [(source, value) for source, value in asked if value not in (None, "", "auto")]
    for source, value in asked:  # both, even where `mode` decides
        check_choice(source, value, LIVE_MODES)
    return asked[0][1] if asked else None


def resolve_mode(mode: str | None = None) -> str:
    """The live mode to use: `"widget"`, `"display"`, `"static"` or `"off"`.

    Args:
        mode: One of `LIVE_MODES`; `None` or `"auto"` defers to the `LABKIT_LIVE` environment
            variable, then to `detect_mode()`.

    Example:

    >>> resolve_mode("static")
    'static'
    """
    return requested_mode(mode) or detect_mode()


def detect_mode() -> str:
    """The mode that suits the running environment (see the module docstring).

    Example:

    >>> detect_mode()  # in a plain script
    'static'
    """
    if not in_kernel():
        return "static"
    if "google.colab" in sys.modules or os.environ.get("VSCODE_PID"):
        return "display"
    return "widget" if started_by_jupyter_server() else "static"


def in_kernel() -> bool:
    """Whether this code runs in an IPython kernel (a notebook of any kind, or papermill).

    Example:

    >>> in_kernel()  # in a plain script
    False
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return getattr(shell, "kernel", None) is not None


def started_by_jupyter_server() -> bool:
    """Whether a Jupyter server started this kernel for a notebook session.

    Example:

    >>> started_by_jupyter_server()  # in JupyterLab
    True
    """
    session = os.environ.get("JPY_SESSION_NAME")
    if not session:
        return False
    try:
        from ipykernel.connect import get_connection_info

        info = json.loads(get_connection_info())
    except Exception:
        # No readable connection file to tell inherited variables apart: trust the variable.
        return True
    return info.get("jupyter_session") == session


# The JupyterLab extensions that draw widgets at all, and that draw anywidget widgets.
_WIDGET_MANAGER = "@jupyter-widgets/jupyterlab-manager"
_ANYWIDGET_FRONTEND = "anywidget"


def widget_problem() -> str | None:
    """Why a plotly `FigureWidget` cannot render here, in a few words; `None` if it can.

    Checks what the kernel can see: the Python packages behind `FigureWidget`, and in the
    Jupyter data folders, anywidget's front-end extension beside the widget manager (a kernel
    whose folders hold neither, e.g. one from another environment, is given the benefit of
    the doubt).

    Example:

    >>> widget_problem()  # anywidget's JupyterLab extension missing
    "anywidget's JupyterLab extension is missing: pip install anywidget, restart JupyterLab"
    """
    missing = [name for name in ("ipywidgets", "anywidget") if not importlib.util.find_spec(name)]
    if missing:
        return f"{' and '.join(missing)} not installed: pip install {' '.join(missing)}"
    extensions = _lab_extension_dirs()
    has = {
        name: any((folder / name).is_dir() for folder in extensions)
        for name in (_WIDGET_MANAGER, _ANYWIDGET_FRONTEND)
    }
    if has[_WIDGET_MANAGER] and not has[_ANYWIDGET_FRONTEND]:
        return (
            "anywidget's JupyterLab extension is missing: pip install anywidget, restart JupyterLab"
        )
    return None


def _lab_extension_dirs() -> list[Path]:
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return []
    return [Path(folder) for folder in jupyter_path("labextensions")]
