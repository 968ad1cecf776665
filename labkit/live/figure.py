"""The look of the live figure: a subplot per metric, a colour per run, val dashed.

`FigureSpec` turns a `MetricHistory` into plain plotly figure dicts, which every renderer uses:
the widget renderer to fill a `FigureWidget`, the others to build a static figure. Training
curves are drawn per step (as TensorBoard draws them: smoothed, the raw values faint behind,
continuous across epochs, whose ends are marked lightly), or as Keras' running means.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import plotly.colors
import plotly.io
import plotly.offline
from plotly.subplots import make_subplots

from labkit._checks import check, check_choice, check_int, quoted
from labkit.live.diagnostics_row import (
    DIAGNOSTIC_QUANTITIES,
    DIAGNOSTICS_PREFIX,
    diagnostic_style,
    diagnostics_legend_title,
)
from labkit.live.history import X_AXES, MetricHistory, Series, bucket_means, downsample_indices
from labkit.live.progress import progress_line
from labkit.live.static import PLOTLY_MIMETYPE, figure_bundle, show_static
from labkit.plotting.smoothing import check_smoothing, ema
from labkit.variants import RUN_COLORS, RUN_LABELS

__all__ = [
    "FigureSpec",
    "VIEW_OPTIONS",
    "TRAIN_VALUES",
    "DEFAULT_SMOOTHING",
    "LEARNING_RATE",
    # Defined in `labkit.live.static` and `labkit.live.diagnostics_row`, importable from here
    # as before.
    "figure_bundle",
    "show_static",
    "PLOTLY_MIMETYPE",
    "DIAGNOSTICS_PREFIX",
    "DIAGNOSTIC_QUANTITIES",
]

# The options a viewer may change while a figure is shown (`FigureSpec.update`).
VIEW_OPTIONS = ("smoothing", "log_y", "x_axis", "train_values")
# What a training curve shows: each step's own values, or Keras' running means over the epoch.
TRAIN_VALUES = ("per_step", "running_mean")
# TensorBoard's default smoothing weight.
DEFAULT_SMOOTHING = 0.6
# The series that holds a run's learning rate.
LEARNING_RATE = "learning_rate"
# A trace: (run, series, raw), `raw` for the faint curve behind a smoothed one.
TraceKey = tuple[str, str, bool]
_X_TITLES = {"epochs": "epoch", "steps": "step", "seconds": "seconds"}
_X_HOVER = {"epochs": "epoch %{x:.2f}", "steps": "step %{x}", "seconds": "%{x:.1f} s"}
_RAW_OPACITY = 0.3
_TITLE_PAD = 26
_EPOCH_MARK = {"color": "rgba(68, 68, 68, 0.3)", "width": 1, "dash": "dot"}
_MAX_EPOCH_MARKS = 50
_DIAGNOSTICS_HEIGHT = 260
# Colours for runs other than the tutorial's two, which keep red and blue.
_EXTRA_COLORS = [c for c in plotly.colors.qualitative.D3 if c not in RUN_COLORS.values()]


@dataclass
class FigureSpec:
    """Settings of the live figure, and how a `MetricHistory` maps onto its traces.

    The first row has a subplot per metric: the training curve (solid) and the per-epoch
    validation curve (dashed, a point at each epoch's end). The training curve shows each
    step's own values (`train_values="per_step"`): with `smoothing`, their debiased
    exponential moving average, as TensorBoard draws it, the raw values faint behind; it runs
    on across epochs, whose ends are marked by faint vertical lines. `"running_mean"` draws
    Keras' running means over each epoch instead, as Keras reports them, an epoch apart from
    the next. A learning rate that changes during a run (schedules, `ReduceLROnPlateau`) is
    drawn dotted on a logarithmic axis at the right of the first subplot. With
    `diagnostics`, a second row shows, per weight-normalized layer
    (`labkit.live.diagnostics`), the mean `‖v‖`, the mean `g` and the effective step: a
    colour per layer, the same in the three subplots, one legend entry per layer (`conv 1`,
    `dense 1`, ...), a dash per run.

    Long curves are thinned to about `max_points` points: a per-step curve to the means of the
    steps each drawn point stands for (`labkit.live.history.bucket_means`), then smoothed.

    The view options (`smoothing`, `log_y`, `x_axis`, `train_values`) may change at any time
    through `update`; the next drawing uses them.

    Args:
        title: First line of the figure title; the progress line goes below it.
        log_y: Logarithmic y-axis for metrics whose name contains `"loss"`.
        max_points: Points drawn per series at most (long histories are thinned).
        labels: Display names of runs; defaults to `labkit.variants.RUN_LABELS`.
        colors: Colours of runs; defaults to `labkit.variants.RUN_COLORS`, then a palette.
        height: Height in pixels of the metrics row (the diagnostics row adds its own).
        smoothing: Weight of the exponential moving average drawn over the per-step training
            curves, in [0, 0.99]; 0 draws them raw. TensorBoard's default, 0.6, by default.
        x_axis: What the x-axis counts: `"epochs"`, `"steps"` (optimizer steps) or
            `"seconds"` (of training, validation included).
        train_values: `"per_step"` (each step's own values) or `"running_mean"` (Keras'
            running means over the epoch so far).
        diagnostics: Add the row of weight-norm diagnostics.
        learning_rate: Draw the learning rate of runs where it changes.

    Example:

    >>> spec = FigureSpec(title="Training", log_y=True, smoothing=0.9, x_axis="steps")
    >>> figure = spec.to_dict(history)
    >>> spec.update(x_axis="seconds", train_values="running_mean")
    True
    """

    title: str = "Training, live"
    log_y: bool = False
    max_points: int = 600
    labels: Mapping[str, str] = field(default_factory=lambda: dict(RUN_LABELS))
    colors: Mapping[str, str] = field(default_factory=lambda: dict(RUN_COLORS))
    height: int = 440
    smoothing: float = DEFAULT_SMOOTHING
    x_axis: str = "epochs"
    train_values: str = "per_step"
    diagnostics: bool = False
    learning_rate: bool = True

    def __post_init__(self):
        # Checked here, not at the first redraw in the middle of training.
        check_int("max_points", self.max_points, minimum=2)
        check_int("height", self.height, minimum=1)
        for name in ("log_y", "diagnostics", "learning_rate"):
            _check_bool(name, getattr(self, name))
        check_smoothing(self.smoothing)
        check_choice("x_axis", self.x_axis, X_AXES)
        check_choice("train_values", self.train_values, TRAIN_VALUES)

    def update(self, **options: Any) -> bool:
        """Changes view options (see `VIEW_OPTIONS`); returns whether any changed.

        Every value is checked before any is applied.

        Example:

        >>> spec.update(smoothing=0.8, log_y=True)
        True
        """
        unknown = sorted(set(options) - set(VIEW_OPTIONS))
        if unknown:
            raise ValueError(
                f"Only the view options {quoted(VIEW_OPTIONS)} can change. "
                f"Received: `{unknown[0]}={options[unknown[0]]!r}`"
            )
        checked = replace(self, **options)  # runs every check of __post_init__
        changed = any(getattr(self, name) != getattr(checked, name) for name in options)
        for name in options:
            setattr(self, name, getattr(checked, name))
        return changed

    @property
    def per_step(self) -> bool:
        """Whether training curves show each step's own values (else Keras' running means)."""
        return self.train_values == "per_step"

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
        layout = copy.deepcopy(_base_layout(*self.layout_key(history)))
        for name, value in self.live_layout(history).items():
            layout[name] = {**layout.get(name, {}), **value} if isinstance(value, dict) else value
        return layout

    def layout_key(self, history: MetricHistory) -> tuple:
        """What the layout apart from `live_layout` depends on: it changes with view options."""
        return history.metrics, self.log_y, self.height, self.x_axis, self.diagnostics

    def live_layout(self, history: MetricHistory) -> dict:
        """The parts of the layout that change while training: title, its margin, the LR
        axis, the epoch marks, the diagnostics legend's title."""
        lr_axis = _axis_name("yaxis", self._learning_rate_axis(history))
        layout = {
            # Hung from the figure's top edge, in a top margin that holds its lines; with less
            # padding, static images (kaleido) clipped the top of its first line.
            "title": {
                "text": self.title_text(history),
                "x": 0.01,
                "xanchor": "left",
                "y": 1,
                "yanchor": "top",
                "yref": "container",
                "pad": {"t": _TITLE_PAD},
            },
            "margin": {"t": self.top_margin(history)},
            lr_axis: {
                "visible": any(
                    self.kind(history, series) == "learning_rate"
                    for _, series, _ in self.keys(history)
                )
            },
            "shapes": self.epoch_marks(history),
        }
        if self.diagnostics:
            layout["legend2"] = {"title": {"text": diagnostics_legend_title(history, self.label)}}
        return layout

    def top_margin(self, history: MetricHistory) -> int:
        """Room for the title's padding, its first line, its progress lines (one per run) and
        the subplot titles below them."""
        return _TITLE_PAD + 46 + 22 * max(1, len(history.runs))

    def epoch_marks(self, history: MetricHistory) -> list[dict]:
        """Faint vertical lines where epochs ended, in every metric subplot (per-step view).

        A run's last epoch end is not marked once the run is over: nothing follows it.
        """
        if not self.per_step:
            return []
        axis = {"epochs": "epochs", "steps": "steps", "seconds": "seconds"}[self.x_axis]
        positions = set()
        for run in history.runs.values():
            ends = run.epoch_ends.column(axis)
            if run.state != "running":
                ends = ends[:-1]
            positions.update(np.round(ends[np.isfinite(ends)], 9).tolist())
        marks = sorted(positions)
        marks = marks[:: math.ceil(len(marks) / _MAX_EPOCH_MARKS)] if marks else marks
        return [
            {
                "type": "line",
                "xref": _axis_name("x", column),
                "yref": f"{_axis_name('y', column)} domain",
                "x0": mark,
                "x1": mark,
                "y0": 0,
                "y1": 1,
                "line": _EPOCH_MARK,
                "layer": "below",
            }
            for column in range(1, len(history.metrics) + 1)
            for mark in marks
        ]

    def kind(self, history: MetricHistory, series: str) -> str:
        """What a series is: `"train"`, `"val"`, `"learning_rate"`, `"diagnostic"` or `"other"`.

        Example:

        >>> spec.kind(history, "val_loss")
        'val'
        """
        if series in history.metrics:
            return "train"
        if series.startswith("val_") and series[4:] in history.metrics:
            return "val"
        if series == LEARNING_RATE:
            return "learning_rate"
        return "diagnostic" if series.startswith(DIAGNOSTICS_PREFIX) else "other"

    def keys(self, history: MetricHistory) -> list[TraceKey]:
        """One `(run, series, raw)` key per trace, in trace order.

        `raw` marks the faint raw curve drawn behind a smoothed training curve. Each run's
        traces follow the previous run's, so a new run only appends traces.
        """
        keys = []
        smoothed = self.per_step and self.smoothing > 0
        for run, record in history.runs.items():
            for name, series in record.series.items():
                kind = self.kind(history, name)
                if kind == "train" and smoothed:
                    keys.append((run, name, True))
                if (
                    kind in ("train", "val")
                    or (kind == "diagnostic" and self.diagnostics)
                    or (kind == "learning_rate" and self.learning_rate and _changes(series))
                ):
                    keys.append((run, name, False))
        return keys

    def trace_style(self, history: MetricHistory, run: str, series: str, raw: bool = False) -> dict:
        """Everything of a trace except its points."""
        index = list(history.runs).index(run)
        color = self.color(run, index)
        label = self.label(run)
        kind = self.kind(history, series)
        x_hover = _X_HOVER[self.x_axis]
        if kind == "learning_rate":
            return {
                "type": "scatter",
                "mode": "lines",
                "name": f"{label} (learning rate)",
                "legendgroup": run,
                "line": {"color": color, "dash": "dot", "width": 1.5, "shape": "hv"},
                **_axes(1, self._learning_rate_axis(history)),
                "hovertemplate": f"{label}<br>{x_hover}<br>learning rate %{{y:.3g}}<extra></extra>",
            }
        if kind == "diagnostic":
            return diagnostic_style(history, run, series, self.label, _X_HOVER[self.x_axis])
        metric = series.removeprefix("val_")
        column = history.metrics.index(metric) + 1
        split = "val" if kind == "val" else "train"
        what = {"val": "", "train": " per step" if self.per_step else " running mean"}[split]
        style = {
            "type": "scatter",
            "mode": "lines+markers" if split == "val" else "lines",
            "name": f"{label} ({split})",
            "legendgroup": run,
            "showlegend": column == 1,
            "line": {
                "color": color,
                "dash": "dash" if split == "val" else "solid",
                "width": 2,
            },
            **_axes(column, column),
            "hovertemplate": f"{label} {split}<br>{x_hover}<br>{metric}{what} "
            "%{y:.4f}<extra></extra>",
        }
        if raw:
            style.update(
                name=f"{label} (train, raw)",
                showlegend=False,
                opacity=_RAW_OPACITY,
                line={**style["line"], "width": 1},
                hoverinfo="skip",
            )
            del style["hovertemplate"]
        return style

    def points(
        self, history: MetricHistory, run: str, series: str, raw: bool = False
    ) -> tuple[np.ndarray, ...]:
        """A trace's points on `x_axis`, thinned and smoothed as set.

        Per-step training values are thinned to bucket means and, unless `raw`, smoothed;
        they run on across epochs. Keras' running means restart every epoch, so that curve
        breaks between epochs instead of joining one epoch's mean to the next one's first
        batch. Other series are thinned by keeping evenly spaced points.
        """
        record = history.runs[run].series[series]
        x = record.column(self.x_axis)
        if self.kind(history, series) != "train":
            keep = downsample_indices(len(x), self.max_points)
            return x[keep], record.column("y")[keep]
        if self.per_step:
            x, y = bucket_means(x, record.column("y"), self.max_points)
            return x, y if raw or not self.smoothing else ema(y, self.smoothing)
        keep = downsample_indices(len(x), self.max_points)
        x, y = x[keep], record.column("running_mean")[keep]
        # Batch b of epoch e sits in (e, e + 1]: a new epoch starts where ceil(epochs) grows.
        starts = np.flatnonzero(np.diff(np.ceil(record.column("epochs")[keep])) > 0) + 1
        return np.insert(x, starts, np.nan), np.insert(y, starts, np.nan)

    def trace(self, history: MetricHistory, key: TraceKey) -> dict:
        """One whole trace (style and points) as a JSON-ready dict."""
        x, y = self.points(history, *key)
        return {**self.trace_style(history, *key), "x": _json(x), "y": _json(y)}

    def to_dict(self, history: MetricHistory) -> dict:
        """The whole figure as a JSON-ready dict (points as lists, gaps as `None`).

        Example:

        >>> plotly.io.show(FigureSpec().to_dict(history))
        """
        data = [self.trace(history, key) for key in self.keys(history)]
        return {"data": data, "layout": self.layout(history)}

    def _learning_rate_axis(self, history: MetricHistory) -> int:
        return len(history.metrics) + 1 + (len(DIAGNOSTIC_QUANTITIES) if self.diagnostics else 0)


def _check_bool(name: str, value: Any) -> None:
    check(name, value, isinstance(value, bool), "True or False")


def _changes(series: Series) -> bool:
    """Whether a series holds more than one distinct value (NaN aside)."""
    values = series.column("y")
    values = values[~np.isnan(values)]
    return values.size > 1 and values.min() != values.max()


def _axis_name(kind: str, index: int) -> str:
    return kind if index == 1 else f"{kind}{index}"


def _axes(x: int, y: int) -> dict[str, str]:
    return {"xaxis": _axis_name("x", x), "yaxis": _axis_name("y", y)}


def _json(values: np.ndarray) -> list[float | None]:
    """Floats as a list, NaN (a gap) as `None`, which JSON writes as `null`."""
    return np.where(np.isnan(values), None, values).tolist()


@functools.lru_cache(maxsize=16)
def _base_layout(
    metrics: Sequence[str], log_y: bool, height: int, x_axis: str, diagnostics: bool
) -> dict:
    rows = [list(metrics)]
    if diagnostics:
        rows.append([title for title, _ in DIAGNOSTIC_QUANTITIES.values()])
    columns = math.lcm(*(len(row) for row in rows))
    specs = [
        [
            cell
            for _ in row
            for cell in ({"colspan": columns // len(row)},) + (None,) * (columns // len(row) - 1)
        ]
        for row in rows
    ]
    figure = make_subplots(
        rows=len(rows),
        cols=columns,
        specs=specs,
        subplot_titles=[title for row in rows for title in row],
        horizontal_spacing=0.1 if len(metrics) > 1 else 0.08,
        vertical_spacing=0.16,
        row_heights=[height, _DIAGNOSTICS_HEIGHT][: len(rows)],
    )
    y_axes = [(metric, "log" if log_y and "loss" in metric else "linear") for metric in metrics] + (
        [(title, kind) for title, kind in DIAGNOSTIC_QUANTITIES.values()] if diagnostics else []
    )
    for index, (title, kind) in enumerate(y_axes, start=1):
        figure.layout[_axis_name("xaxis", index)].title.text = _X_TITLES[x_axis]
        # The diagnostics' subplot titles say it all: no y-axis title crowding the row.
        y_title = title if index <= len(metrics) else None
        figure.layout[_axis_name("yaxis", index)].update(title_text=y_title, type=kind)
    legends = {
        "legend": {
            "orientation": "h",
            "yanchor": "top",
            "y": -0.2 if not diagnostics else -0.1,
            "x": 0,
            "xanchor": "left",
        }
    }
    if diagnostics:
        # The layers' legend, beside the diagnostics row it explains.
        top = figure.layout[_axis_name("yaxis", len(metrics) + 1)].domain[1]
        legends["legend2"] = {
            "x": 1.02,
            "xanchor": "left",
            "y": top,
            "yanchor": "top",
            "title": {"text": "layers"},
            "tracegroupgap": 2,
        }
    figure.update_layout(
        {
            _axis_name("yaxis", len(y_axes) + 1): {
                "overlaying": "y",
                "anchor": "x",
                "side": "right",
                "type": "log",
                "showgrid": False,
                "title": {"text": "learning rate", "standoff": 2},
                "tickfont": {"size": 10},
                "visible": False,
            }
        },
        **legends,
        template="plotly_white",
        height=height + (_DIAGNOSTICS_HEIGHT + 60 if diagnostics else 0),
        margin={"t": 80, "b": 90, "l": 60, "r": 110 if diagnostics else 20},
        # Keeps the user's zoom and legend choices across updates (not across x-axes).
        uirevision=f"labkit-live-{x_axis}",
    )
    return figure.to_dict()["layout"]
