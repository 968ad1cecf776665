"""Static plotly figures in notebooks: a display bundle that shows in the saved notebook too.

`show_static` is how labkit shows every figure that does not update (the live figure of a
headless run, the reports' and studies' figures); `figure_bundle` is its display bundle.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping

import plotly.graph_objects as go
import plotly.io
import plotly.offline

__all__ = ["PLOTLY_MIMETYPE", "figure_bundle", "show_static"]

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def figure_bundle(figure: Mapping | go.Figure) -> dict[str, object]:
    """A display bundle for a static plotly figure that renders in notebooks and HTML exports.

    JupyterLab, Notebook 7 and VS Code draw the plotly JSON mimetype with their bundled plotly.js.
    The `text/html` part is for nbconvert's HTML export and Colab: it loads plotly.js from the
    plotly CDN instead of embedding the 4.6 MB bundle, so a saved notebook stays small.

    Example:

    >>> IPython.display.display(figure_bundle(FigureSpec().to_dict(history)), raw=True)
    """
    figure = json.loads(plotly.io.to_json(figure, validate=False))
    # Plotly's own "cdn" option re-reads and hashes the 4.6 MB bundle on every call.
    html = _plotly_script_tag() + plotly.io.to_html(
        figure, include_plotlyjs=False, full_html=False, validate=False, default_width="100%"
    )
    title = figure.get("layout", {}).get("title", {}).get("text") or "figure"
    title = title.replace("<br><sup>", " | ").replace("</sup>", "")
    return {
        PLOTLY_MIMETYPE: {**figure, "config": {"responsive": True}},
        "text/html": html,
        "text/plain": f"<plotly figure: {title}>",
    }


@functools.lru_cache(maxsize=1)
def _plotly_script_tag() -> str:
    version = plotly.offline.get_plotlyjs_version()
    return f'<script charset="utf-8" src="https://cdn.plot.ly/plotly-{version}.min.js"></script>'


def show_static(figure: Mapping | go.Figure) -> None:
    """Displays a plotly figure statically, so it shows in the saved notebook and its HTML export.

    Plotly's default renderer in a headless kernel (papermill) emits only the JSON mimetype,
    which nbconvert's HTML export leaves out.

    Example:

    >>> show_static(labkit.accuracy_figure(results))
    """
    from IPython.display import display

    display(figure_bundle(figure), raw=True)
