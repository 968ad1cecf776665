"""The look of the live figure: a subplot per metric, a colour per run, val dashed.

`FigureSpec` turns a `MetricHistory` into plain plotly figure dicts, which every renderer uses:
the widget renderer to fill a `FigureWidget`, the others to build a static figure.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io
import plotly.offline
from plotly.subplots import make_subplots

from labkit._checks import check_int
from labkit.live.history import MetricHistory
from labkit.live.progress import progress_line
from labkit.variants import RUN_COLORS, RUN_LABELS

__all__ = ["FigureSpec", "figure_bundle", "show_static", "PLOTLY_MIMETYPE"]

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
# Colours for runs other than the tutorial's two, which keep red and blue.
_EXTRA_COLORS = [c for c in plotly.colors.qualitative.D3 if c not in RUN_COLORS.values()]


@dataclass(frozen=True)
class FigureSpec:
    """Settings of the live figure, and how a `MetricHistory` maps onto its traces.

    Args:
        title: First line of the figure title; the progress line goes below it.
        log_y: Logarithmic y-axis for metrics whose name contains `"loss"`.
        max_points: Points drawn per series at most (long histories are downsampled).
        labels: Display names of runs; defaults to `labkit.variants.RUN_LABELS`.
        colors: Colours of runs; defaults to `labkit.variants.RUN_COLORS`, then a palette.
        height: Figure height in pixels.

    Example:

    >>> spec = FigureSpec(title="Training", log_y=True)
    >>> figure = spec.to_dict(history)
    """

    title: str = "Training, live"
    log_y: bool = False
    max_points: int = 600
    labels: Mapping[str, str] = field(default_factory=lambda: dict(RUN_LABELS))
    colors: Mapping[str, str] = field(default_factory=lambda: dict(RUN_COLORS))
    height: int = 440

    def __post_init__(self):
        # Checked here, not at the first redraw in the middle of training.
        check_int("max_points", self.max_points, minimum=2)
        check_int("height", self.height, minimum=1)

    def label(self, run: str) -> str:
        """Display name of a run."""
        return self.labels.get(run, run)

    def color(self, run: str, index: int) -> str:
        """Colour of a run, the `index`-th in the figure."""
        return self.colors.get(run) or _EXTRA_COLORS[index % len(_EXTRA_COLORS)]

    def title_text(self, history: MetricHistory) -> str:
        """The title: `title`, then one progress line per run."""
        progress = progress_line(history, dict(self.labels), separator="<br>")
        return f"{self.title}<br><sup>{progress}</sup>" if progress else self.title

    def layout(self, history: MetricHistory) -> dict:
        """The figure layout (a fresh dict), title included."""
        layout = dict(_base_layout(history.metrics, self.log_y, self.height))
        layout["title"] = {
            "text": self.title_text(history),
            "x": 0.01,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": 12},
        }
        return layout

    def top_margin(self, history: MetricHistory) -> int:
        """Room for the title's progress lines (one per run)."""
        return 66 + 18 * max(1, len(history.runs))

    def keys(self, history: MetricHistory) -> list[tuple[str, str]]:
        """One `(run, series)` key per trace, in trace order."""
        return [(run, name) for run, record in history.runs.items() for name in record.series]

    def trace_style(self, history: MetricHistory, run: str, series: str) -> dict:
        """Everything of a trace except its points."""
        index = list(history.runs).index(run)
        metric = series.removeprefix("val_")
        column = history.metrics.index(metric) + 1
        split = "val" if series.startswith("val_") else "train"
        label = self.label(run)
        return {
            "type": "scatter",
            "mode": "lines+markers" if split == "val" else "lines",
            "name": f"{label} ({split})",
            "legendgroup": run,
            "showlegend": column == 1,
            "line": {
                "color": self.color(run, index),
                "dash": "dash" if split == "val" else "solid",
                "width": 2,
            },
            "xaxis": "x" if column == 1 else f"x{column}",
            "yaxis": "y" if column == 1 else f"y{column}",
            "hovertemplate": f"{label} {split}<br>epoch %{{x:.2f}}<br>{metric} %{{y:.4f}}"
            "<extra></extra>",
        }

    def points(self, history: MetricHistory, run: str, series: str) -> tuple[np.ndarray, ...]:
        """A trace's points, downsampled, with a gap between epochs in the per-batch series.

        Keras' batch values are running means that restart every epoch; the gap keeps each
        epoch's curve apart instead of joining one epoch's mean to the next one's first batch.
        """
        x, y = history.runs[run].series[series].points(self.max_points)
        if series.startswith("val_") or len(x) < 2:
            return x, y
        # Batch b of epoch e sits in (e, e + 1]: a new epoch starts where ceil(x) grows.
        starts = np.flatnonzero(np.diff(np.ceil(x)) > 0) + 1
        return np.insert(x, starts, np.nan), np.insert(y, starts, np.nan)

    def to_dict(self, history: MetricHistory) -> dict:
        """The whole figure as a JSON-ready dict (points as lists, gaps as `None`).

        Example:

        >>> plotly.io.show(FigureSpec().to_dict(history))
        """
        data = []
        for run, series in self.keys(history):
            x, y = self.points(history, run, series)
            data.append({**self.trace_style(history, run, series), "x": _json(x), "y": _json(y)})
        layout = self.layout(history)
        layout["margin"] = {**layout["margin"], "t": self.top_margin(history)}
        return {"data": data, "layout": layout}


def _json(values: np.ndarray) -> list[float | None]:
    """Floats as a list, NaN (a gap) as `None`, which JSON writes as `null`."""
    return np.where(np.isnan(values), None, values).tolist()


@functools.lru_cache(maxsize=8)
def _base_layout(metrics: Sequence[str], log_y: bool, height: int) -> dict:
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics))
    for column, metric in enumerate(metrics, start=1):
        figure.update_xaxes(title_text="epoch", row=1, col=column)
        log = log_y and "loss" in metric
        figure.update_yaxes(title_text=metric, type="log" if log else "linear", row=1, col=column)
    figure.update_layout(
        template="plotly_white",
        height=height,
        margin={"t": 80, "b": 90, "l": 60, "r": 20},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0, "xanchor": "left"},
        # Keeps the user's zoom and legend choices across updates.
        uirevision="labkit-live",
    )
    return figure.to_dict()["layout"]


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
