"""Live training plots: collect Keras metrics, draw them where the notebook runs.

One idea per module: `history` keeps the metrics (each step's own values, recovered by
`labkit.running_means`), `progress` words them, `diagnostics` measures weight normalization's
‖v‖, g and effective step, `figure` lays them out (the diagnostics row as `diagnostics_row`
says), `static` shows a figure that does not change, `renderers` draw them, `toolbar` lets the
viewer change the view and export it, `environment` picks the renderer (and owns the live
modes), and `callback` holds `LivePlot`, the Keras callback that ties them together.
Smoothing and export come from `labkit.plotting`, which the figures of finished runs share.
`labkit.live` depends only on lower layers (`labkit.plotting`, `labkit.variants` for the runs'
colours and labels, `labkit.running_means`, `labkit._checks`, `labkit._keras_compat`, and
`labkit.weightnorm` for the diagnostics).

Names are imported on first use, so that checking a mode (`labkit.live.environment`) does not
import Keras or plotly.

Example:

>>> from labkit import LivePlot
>>> model.fit(x, y, validation_data=(x_val, y_val), callbacks=[LivePlot()])
"""

from __future__ import annotations

from labkit._lazy import lazy_names

_LAZY = {
    "LivePlot": "labkit.live.callback",
    "resolve_mode": "labkit.live.environment",
    "requested_mode": "labkit.live.environment",
    "detect_mode": "labkit.live.environment",
    "LIVE_ENV": "labkit.live.environment",
    "LIVE_MODES": "labkit.live.environment",
    "MetricHistory": "labkit.live.history",
    "FigureSpec": "labkit.live.figure",
    "figure_bundle": "labkit.live.static",
    "show_static": "labkit.live.static",
    "make_renderer": "labkit.live.renderers",
    "Renderer": "labkit.live.renderers",
    "WidgetRenderer": "labkit.live.renderers",
    "DisplayRenderer": "labkit.live.renderers",
    "StaticRenderer": "labkit.live.renderers",
    "write_html": "labkit.plotting.export",
    "ema": "labkit.plotting.smoothing",
    "WeightNormProbe": "labkit.live.diagnostics",
    "Toolbar": "labkit.live.toolbar",
    "save_figure": "labkit.plotting.export",
    "save_figures": "labkit.plotting.export",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
