"""Figures of a sweep's runs: mean curves per setting with bands and controls, and parallel
coordinates over the settings.

Example:

>>> runs = load_runs("runs/sweep")
>>> curves_figure(runs, target=0.5, controls=True).show()
>>> parallel_figure(runs).show()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from labkit._checks import check, is_number
from labkit.analysis.runs import (
    ACCURACY_METRICS,
    CURVE_METRICS,
    NOT_SET,
    PRIMARY_PARAMETERS,
    comparable_runs,
    is_missing,
)
from labkit.plotting.elements import axis_type_switch, band, band_y, restyle_slider
from labkit.plotting.smoothing import check_smoothing, ema
from labkit.variants import REGULAR, WEIGHTNORM, run_name

__all__ = ["CURVE_SMOOTHING_STEPS", "curves_figure", "parallel_figure"]

_PALETTES = {
    REGULAR: plotly.colors.sequential.Reds[-3::-1],
    WEIGHTNORM: plotly.colors.sequential.Blues[-3::-1],
    "other": plotly.colors.qualitative.Plotly,
}


def curves_figure(
    runs: pd.DataFrame,
    target: float | None = None,
    metric: str = "val_accuracy",
    smoothing: float = 0.0,
    log_y: bool = False,
    controls: bool = False,
) -> go.Figure:
    """Plots a metric's mean per epoch for each setting, with a ±std band over seeds.

    Regular models are red, WeightNorm models blue (other settings take other shades); dashed
    lines have data_init off. `target`, when given, is drawn as a dotted line. With
    `smoothing`, mean and band are exponential moving averages over epochs (as in the live
    figure) and the raw mean stays faint behind. With `controls`, the figure carries, like the
    live figure, a smoothing slider and a linear/log switch for the y-axis, which work in the
    browser alone (HTML files, notebooks without a kernel).

    Args:
        runs: As `load_runs` returns them.
        target: A value to draw as a dotted line.
        metric: One of `CURVE_METRICS`.
        smoothing: Exponential moving average weight in [0, 0.99].
        log_y: Logarithmic y-axis.
        controls: Add the smoothing slider and the linear/log switch.

    Example:

    >>> curves_figure(load_runs("runs/sweep"), target=0.5).write_html("curves.html")
    >>> curves_figure(runs, metric="val_loss", log_y=True, controls=True)
    """
    check("metric", metric, metric in CURVE_METRICS, f"one of {', '.join(CURVE_METRICS)}")
    check_smoothing(smoothing)
    check("log_y", log_y, isinstance(log_y, bool), "True or False")
    runs, columns = comparable_runs(runs)
    curves = _setting_curves(runs, columns, metric)
    figure = go.Figure()
    faint = controls or smoothing > 0
    for curve in curves:
        traces = _curve_traces(curve, smoothing, faint)
        figure.add_traces(traces)
    if target is not None:
        figure.add_hline(y=target, line={"dash": "dot", "color": "gray"})
    name = _METRIC_NAMES.get(metric, metric)
    figure.update_layout(
        title=f"{name[0].upper()}{name[1:]}: mean ± std over seeds",
        xaxis_title="epoch",
        yaxis_title=name,
        yaxis_type="log" if log_y else "linear",
        template="plotly_white",
    )
    if controls:
        _add_curve_controls(figure, curves, smoothing, log_y)
    return figure


# How `curves_figure` names the metrics it draws, and the smoothing its slider offers.
_METRIC_NAMES = {
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
    "loss": "training loss",
}
CURVE_SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.9)


def _setting_curves(runs: pd.DataFrame, columns: list[str], metric: str) -> list[dict]:
    """Per setting: its label, seeds, colour, dash, and the mean and std per epoch."""
    curves = []
    shades: dict[str, dict[tuple, int]] = {family: {} for family in _PALETTES}
    for label, group in runs.groupby("setting", sort=False):
        values = pd.DataFrame(group[metric].tolist())
        if values.empty:
            continue
        first = group.iloc[0]
        family = _family(first)
        others = tuple(str(first[column]) for column in columns if column not in PRIMARY_PARAMETERS)
        shade = shades[family].setdefault(others, len(shades[family]))
        data_init = first.get("data_init")
        curves.append(
            {
                "label": label,
                "n": len(group),
                "epochs": np.arange(1, values.shape[1] + 1),
                "mean": values.mean().to_numpy(dtype=float),
                "std": values.std().to_numpy(dtype=float),
                "color": _PALETTES[family][shade % len(_PALETTES[family])],
                "dash": "dash"
                if data_init is not None and not pd.isna(data_init) and not data_init
                else None,
            }
        )
    return curves


def _smoothed(curve: dict, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    return ema(curve["mean"], smoothing), ema(curve["std"], smoothing)


def _curve_traces(curve: dict, smoothing: float, faint: bool) -> list[go.Scatter]:
    """A setting's band, its faint raw mean (when `faint`), and its (smoothed) mean."""
    epochs, label = curve["epochs"], curve["label"]
    mean, std = _smoothed(curve, smoothing)
    traces = [band(epochs, mean, std, curve["color"], legendgroup=label)]
    if faint:
        traces.append(
            go.Scatter(
                x=epochs,
                y=curve["mean"],
                name=f"{label} (raw)",
                line={"color": curve["color"], "dash": curve["dash"], "width": 1},
                opacity=0.35,
                legendgroup=label,
                showlegend=False,
                hoverinfo="skip",
                visible=smoothing > 0,
            )
        )
    traces.append(
        go.Scatter(
            x=epochs,
            y=mean,
            customdata=std,
            name=f"{label} (n={curve['n']})",
            line={"color": curve["color"], "dash": curve["dash"]},
            legendgroup=label,
            hovertemplate="epoch %{x}: %{y:.4f} ± %{customdata:.4f}",
        )
    )
    return traces


def _add_curve_controls(figure: go.Figure, curves: list[dict], smoothing: float, log_y: bool):
    """A smoothing slider (restyles every trace) and a linear/log switch (relayouts the y-axis)."""
    weights = sorted({*CURVE_SMOOTHING_STEPS, smoothing})
    steps = {}
    for weight in weights:
        ys, visible = [], []
        for curve in curves:
            mean, std = _smoothed(curve, weight)
            ys += [band_y(mean, std), curve["mean"], mean]
            visible += [True, weight > 0, True]
        steps[f"{weight:g}"] = {"y": ys, "visible": visible}
    figure.update_layout(
        sliders=[
            restyle_slider(
                "smoothing: ",
                steps,
                active=weights.index(smoothing),
                x=0,
                len=0.45,
                y=-0.18,
                yanchor="top",
                pad={"t": 10},
            )
        ],
        updatemenus=[axis_type_switch(log_y, x=1, xanchor="right", y=1.12, yanchor="bottom")],
        margin={"b": 150},
    )


def parallel_figure(runs: pd.DataFrame) -> go.Figure:
    """Parallel coordinates of the sweep: one line per setting, seeds averaged out.

    An axis per parameter that varies (as in `summarize`), then the mean final and mean best
    validation accuracy over the setting's seeds, on one shared range; lines are coloured by
    the final accuracy. A positive numeric parameter spanning two decades or more (a
    learning-rate grid) is drawn on a log10 axis; others as their values; text and booleans
    as categories.

    Example:

    >>> parallel_figure(load_runs("runs/sweep")).write_html("parallel.html")
    """
    runs, columns = comparable_runs(runs)
    # Runs that recorded no accuracy (None) count as missing, not as objects.
    accuracies = runs[list(ACCURACY_METRICS)].apply(pd.to_numeric, errors="coerce")
    grouped = runs.assign(**accuracies).groupby("setting", sort=False)
    means = grouped[list(ACCURACY_METRICS)].mean()
    settings = grouped[columns].first() if columns else pd.DataFrame(index=means.index)
    finite = means.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    accuracy_range = [low, high] if high > low else [low - 0.01, high + 0.01]
    dimensions = [_parallel_dimension(column, settings[column]) for column in columns]
    dimensions += [
        {
            "label": f"{metric.replace('_val_', ' val_')} (mean)",
            "values": means[metric].to_numpy(),
            "range": accuracy_range,
            "tickformat": ".3f",
        }
        for metric in ACCURACY_METRICS
    ]
    counts = grouped.size()
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": means["final_val_accuracy"].to_numpy(),
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": "final<br>val_accuracy"}},
            },
            labelangle=0,
        )
    )
    figure.update_layout(
        title=(
            f"The sweep's {len(means)} settings ({int(counts.sum())} runs), "
            "each averaged over its seeds"
        ),
        template="plotly_white",
        margin={"l": 80, "r": 40, "t": 100, "b": 40},
        height=460,
    )
    return figure


def _parallel_dimension(column: str, values: pd.Series) -> dict[str, Any]:
    """One axis of `parallel_figure`: numbers as they are (or log10), other values as categories."""
    present = [value for value in values if not is_missing(value)]
    numeric = bool(present) and len(present) == len(values) and all(map(is_number, present))
    if numeric:
        numbers = np.asarray(values, dtype=float)
        ticks = np.unique(numbers)
        if ticks.min() > 0 and ticks.max() / ticks.min() >= 100:
            return {
                "label": f"{column} (log)",
                "values": np.log10(numbers),
                "tickvals": np.log10(ticks),
                "ticktext": [f"{tick:g}" for tick in ticks],
            }
        return {
            "label": column,
            "values": numbers,
            "tickvals": ticks,
            "ticktext": [f"{t:g}" for t in ticks],
        }
    labels = [_category(column, value) for value in values]
    categories = sorted(set(labels))
    return {
        "label": column,
        "values": [categories.index(label) for label in labels],
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
        "range": [-0.25, max(len(categories) - 1, 0) + 0.25],
    }


def _category(column: str, value: Any) -> str:
    if is_missing(value):
        return "n/a" if column == "data_init" else NOT_SET
    if column == "weight_norm":
        return "WeightNorm" if value else "regular"
    if isinstance(value, (bool, np.bool_)):
        return "on" if value else "off"
    return str(value)


def _family(row: pd.Series) -> str:
    if "weight_norm" not in row:
        return "other"
    return run_name(bool(row["weight_norm"]))
