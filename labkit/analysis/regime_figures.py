"""The figures of a regimes study: sensitivity, speed, loss curves.

Example:

>>> summary = summarize_regimes(load_regime_runs("runs/regimes"), loss_threshold=1.8)
>>> sensitivity_figure(summary).show()
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit.analysis.regimes import (
    NORMALIZATION_LABELS,
    OPTIMIZER_LABELS,
    OPTIMIZER_ORDER,
    ordered,
    setting_groups,
)
from labkit.plotting.elements import band, restyle_slider
from labkit.stats import mean_interval
from labkit.variants import NORMALIZATION_RUNS, NORMALIZATIONS, RUN_COLORS

__all__ = ["sensitivity_figure", "speed_figure", "loss_curves_figure"]


def _color(normalization: str) -> str:
    return RUN_COLORS[NORMALIZATION_RUNS[normalization]]


def _grid_figure(summary: pd.DataFrame, rows: Sequence[tuple[str, str]], title: str) -> go.Figure:
    """One column per optimizer, one row per (measure, axis title); x: learning rate (log)."""
    optimizers = ordered(summary["optimizer"], OPTIMIZER_ORDER)
    figure = make_subplots(
        rows=len(rows),
        cols=len(optimizers),
        shared_xaxes=True,
        column_titles=[OPTIMIZER_LABELS.get(name, name) for name in optimizers],
        horizontal_spacing=0.06,
        vertical_spacing=0.08,
    )
    for column, optimizer in enumerate(optimizers, start=1):
        of_optimizer = summary[summary["optimizer"] == optimizer]
        for row, (measure, _) in enumerate(rows, start=1):
            for normalization in ordered(of_optimizer["normalization"], NORMALIZATIONS):
                points = of_optimizer[of_optimizer["normalization"] == normalization]
                figure.add_scatter(
                    x=points["learning_rate"],
                    y=points[f"{measure}_mean"],
                    error_y={"type": "data", "array": points[f"{measure}_ci95"]},
                    customdata=np.stack([points["n"], points["reached"], points["diverged"]], -1),
                    hovertemplate=(
                        "lr %{x:g}: %{y:.4g} ± %{error_y.array:.3g}<br>n=%{customdata[0]}, "
                        "reached %{customdata[1]}, diverged %{customdata[2]}<extra></extra>"
                    ),
                    mode="lines+markers",
                    name=NORMALIZATION_LABELS.get(normalization, normalization),
                    legendgroup=normalization,
                    showlegend=row == 1 and column == 1,
                    line={"color": _color(normalization)},
                    row=row,
                    col=column,
                )
    for row, (_, axis_title) in enumerate(rows, start=1):
        figure.update_yaxes(title_text=axis_title, row=row, col=1)
    rates = sorted(set(summary["learning_rate"]))
    figure.update_xaxes(type="log", tickvals=rates, ticktext=[f"{rate:g}" for rate in rates])
    figure.update_xaxes(title_text="learning rate", row=len(rows))
    figure.update_layout(
        title=title, template="plotly_white", height=300 * len(rows) + 120, hovermode="closest"
    )
    return figure


def sensitivity_figure(summary: pd.DataFrame) -> go.Figure:
    """Final validation accuracy and training loss against the learning rate: one column per
    optimizer, one curve per normalization, error bars the 95% intervals over seeds.

    Example:

    >>> sensitivity_figure(summarize_regimes(load_regime_runs("runs/regimes"), 1.8)).show()
    """
    figure = _grid_figure(
        summary,
        [("val_accuracy", "final val accuracy"), ("final_loss", "final training loss")],
        "Learning-rate sensitivity: mean ± 95% CI over seeds",
    )
    figure.update_yaxes(type="log", row=2)
    return figure


def speed_figure(summary: pd.DataFrame, loss_threshold: float | None = None) -> go.Figure:
    """Steps and seconds until the training loss first reaches the threshold, against the
    learning rate: mean ± 95% CI over the runs that reached it (a missing point: none did).

    Example:

    >>> speed_figure(summarize_regimes(load_regime_runs("runs/regimes"), 1.8), 1.8).show()
    """
    reach = "" if loss_threshold is None else f" {loss_threshold:g}"
    figure = _grid_figure(
        summary,
        [("steps_to_threshold", "steps"), ("seconds_to_threshold", "seconds")],
        f"Speed: steps and seconds until the training loss reaches{reach} (runs that did)",
    )
    figure.update_yaxes(type="log")
    return figure


def loss_curves_figure(runs: pd.DataFrame, loss_threshold: float | None = None) -> go.Figure:
    """Training loss against optimizer steps, both axes logarithmic: the mean over seeds with
    a band of its 95% interval, one column per optimizer, one curve per normalization; a
    slider picks the learning rate.

    Example:

    >>> loss_curves_figure(load_regime_runs("runs/regimes"), loss_threshold=1.8).show()
    """
    optimizers = ordered(runs["optimizer"], OPTIMIZER_ORDER)
    rates = sorted(set(runs["learning_rate"]))
    figure = make_subplots(
        rows=1,
        cols=len(optimizers),
        shared_yaxes=True,
        column_titles=[OPTIMIZER_LABELS.get(name, name) for name in optimizers],
        horizontal_spacing=0.04,
    )
    rate_of_trace = []
    for optimizer, rate, normalization, group in setting_groups(runs):
        steps, mean, half_width = _mean_curve(group)
        if steps.size == 0:
            continue
        column = optimizers.index(optimizer) + 1
        color = _color(normalization)
        label = NORMALIZATION_LABELS.get(normalization, normalization)
        figure.add_trace(band(steps, mean, half_width, color, normalization), row=1, col=column)
        figure.add_scatter(
            x=steps,
            y=mean,
            customdata=half_width,
            name=label,
            legendgroup=normalization,
            showlegend=column == 1,
            line={"color": color},
            hovertemplate=f"{label}<br>step %{{x}}: %{{y:.4f}} ± %{{customdata:.4f}}"
            "<extra></extra>",
            row=1,
            col=column,
        )
        rate_of_trace += [rate, rate]
    shown = rates[len(rates) // 2] if rates else None
    for trace, rate in zip(figure.data, rate_of_trace):
        trace.visible = rate == shown
    figure.update_layout(
        sliders=[
            restyle_slider(
                "learning rate: ",
                {f"{rate:g}": {"visible": [r == rate for r in rate_of_trace]} for rate in rates},
                active=rates.index(shown) if rates else 0,
            )
        ],
        title="Training loss: mean ± 95% CI over seeds (log-log)",
        template="plotly_white",
        height=480,
    )
    figure.update_xaxes(type="log", title_text="step")
    figure.update_yaxes(type="log")
    figure.update_yaxes(title_text="training loss", col=1)
    if loss_threshold is not None:
        figure.add_hline(y=loss_threshold, line={"dash": "dot", "color": "gray"})
    return figure


def _mean_curve(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean loss and 95% half-width over the group's runs, on their common steps."""
    length = min((len(steps) for steps in group["steps"]), default=0)
    if length == 0:
        return np.array([]), np.array([]), np.array([])
    losses = np.stack([loss[:length] for loss in group["step_loss"]])
    intervals = [mean_interval(column) for column in losses.T]
    mean = np.array([interval.mean for interval in intervals])
    half_width = np.array([interval.half_width for interval in intervals])
    return group["steps"].iloc[0][:length], mean, np.nan_to_num(half_width)
