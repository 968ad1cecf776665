"""Live training plots: collect Keras metrics, draw them where the notebook runs.

One idea per module: `history` keeps the metrics, `progress` words them, `figure` lays them
out, `renderers` draw them, `environment` picks the renderer, and `callback` holds `LivePlot`,
the Keras callback that ties them together.

Example:

>>> from labkit import LivePlot
>>> model.fit(x, y, validation_data=(x_val, y_val), callbacks=[LivePlot()])
"""

from labkit.live.callback import LivePlot
from labkit.live.environment import LIVE_ENV, detect_mode, resolve_mode
from labkit.live.figure import FigureSpec, figure_bundle, show_static
from labkit.live.history import MetricHistory
from labkit.live.renderers import (
    DisplayRenderer,
    Renderer,
    StaticRenderer,
    WidgetRenderer,
    make_renderer,
    write_html,
)

__all__ = [
    "LivePlot",
    "resolve_mode",
    "detect_mode",
    "LIVE_ENV",
    "MetricHistory",
    "FigureSpec",
    "figure_bundle",
    "show_static",
    "make_renderer",
    "Renderer",
    "WidgetRenderer",
    "DisplayRenderer",
    "StaticRenderer",
    "write_html",
]
