"""What every labkit figure is drawn with: smoothing, the shared plotly pieces, and export.

`smoothing` holds the exponential moving average that the live figure and the sweep report
apply to curves; `elements` the plotly pieces that several figures share (a mean's band,
sliders that restyle traces, a linear/log switch, transparent fills); `export` writes figures
to standalone HTML through plotly's `write_html`, and to images through kaleido. The live plot
(`labkit.live`) and the figures of finished runs (`labkit.analysis`) both draw on it; it
depends only on the package-private helpers.

Names are imported on first use, so that checking a smoothing weight does not import plotly.

Example:

>>> from labkit.plotting import ema, save_figures
>>> save_figures({"report/curves.html": figure, "report/curves.png": figure})
"""

from __future__ import annotations

from labkit._lazy import lazy_names

_LAZY = {
    "ema": "labkit.plotting.smoothing",
    "RunningEma": "labkit.plotting.smoothing",
    "check_smoothing": "labkit.plotting.smoothing",
    "transparent": "labkit.plotting.elements",
    "band": "labkit.plotting.elements",
    "band_y": "labkit.plotting.elements",
    "restyle_slider": "labkit.plotting.elements",
    "axis_type_switch": "labkit.plotting.elements",
    "write_html": "labkit.plotting.export",
    "save_figure": "labkit.plotting.export",
    "save_figures": "labkit.plotting.export",
    "image_export_problem": "labkit.plotting.export",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
