"""Statistics over the runs of a sweep: a table over seeds and mean validation curves.

Every `metrics.json` below a folder is one trained model, read through `labkit.results` (the one
definition of that file). A file that cannot be read (empty, truncated, not a run's results) is
named in a warning, left out, and counted in the summary. Completed runs are grouped into settings
by the parameters that vary between them (seed and paths aside; `weight_norm` and `data_init`
always; a parameter set in some runs and not in others varies too), and each setting is
summarized over its seeds.

Example:

>>> runs = load_runs("runs/sweep")
>>> summarize(runs, target=0.5)[["setting", "n", "final_val_accuracy_mean"]]
>>> curves_figure(runs, target=0.5).show()
>>> write_report("runs/sweep")
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from scipy import stats

from labkit._checks import check, is_number
from labkit._io import atomic_write, writable_dir_problem
from labkit.results import METRICS_FILE, ResultFileError, RunRecord, read_record
from labkit.search.options import JOURNAL_FILE
from labkit.variants import REGULAR, WEIGHTNORM, run_name

# Parameters that never define a setting: seeds are what a setting is summarized over, the rest
# say where things are, not what was trained.
IGNORED_PARAMETERS = ("seed", "output_dir", "archive", "live")
# Always settings when present, in this order and first.
PRIMARY_PARAMETERS = ("weight_norm", "data_init")
# Columns of `load_runs` that are not parameters.
RUN_COLUMNS = (
    "path",
    "run_name",
    "status",
    "epochs_completed",
    "final_val_accuracy",
    "best_val_accuracy",
    "seconds_per_epoch",
    "duration_s",
    "val_accuracy",
    "val_loss",
    "loss",
)
# Per-epoch curves `load_runs` keeps (lists), which `curves_figure` can draw.
CURVE_METRICS = ("val_accuracy", "val_loss", "loss")
ACCURACY_METRICS = ("final_val_accuracy", "best_val_accuracy")
CONFIDENCE = 0.95
# The `status` of a run whose metrics.json could not be read.
UNREADABLE = "unreadable"
# How a parameter that a run does not have reads in setting labels.
NOT_SET = "not set"

_PALETTES = {
    REGULAR: plotly.colors.sequential.Reds[-3::-1],
    WEIGHTNORM: plotly.colors.sequential.Blues[-3::-1],
    "other": plotly.colors.qualitative.Plotly,
}


def load_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """Reads every `metrics.json` below `runs_dir` into one row per trained model.

    Columns: `path` (the model's folder, relative to `runs_dir`), `run_name`, `status`, one column
    per parameter in `params`, `epochs_completed`, `final_val_accuracy`, `best_val_accuracy`,
    `seconds_per_epoch` (median over epochs, so the first epoch's tracing does not count),
    `duration_s`, and the per-epoch lists `val_accuracy`, `val_loss` and `loss` (empty where a
    run did not record them). A file that cannot be read is named in
    a warning and gets a row with only its `path` and the status `"unreadable"`.

    Example:

    >>> runs = load_runs("runs/sweep")
    >>> runs.groupby("weight_norm")["final_val_accuracy"].mean()
    """
    runs_dir = Path(runs_dir)
    paths = sorted(runs_dir.rglob(METRICS_FILE))
    if not paths:
        raise FileNotFoundError(
            f"No metrics.json below the runs folder. Received: `runs_dir={str(runs_dir)!r}`"
        )
    rows, parameters = [], {}
    for path in paths:
        row = {"path": str(path.parent.relative_to(runs_dir))}
        try:
            record = read_record(path)
        except (ResultFileError, OSError) as error:
            warnings.warn(f"{_one_line(error)} It is left out of the report.", stacklevel=2)
            rows.append({**row, "status": UNREADABLE})
            continue
        params = {name: value for name, value in record.params.items() if name not in RUN_COLUMNS}
        parameters.update(dict.fromkeys(params))
        rows.append({**row, "run_name": record.run_name, "status": record.status, **params})
        rows[-1].update(_measures(record))
    measures = ["epochs_completed", *ACCURACY_METRICS, "duration_s", "seconds_per_epoch"]
    columns = ["path", "run_name", "status", *parameters, *measures, *CURVE_METRICS]
    runs = pd.DataFrame(rows, columns=columns)
    for metric in CURVE_METRICS:
        runs[metric] = runs[metric].map(_as_list)
    return runs


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, ResultFileError) else f"Unreadable run results: {text}."


def _measures(record: RunRecord) -> dict[str, Any]:
    return {
        "epochs_completed": record.epochs_completed,
        "final_val_accuracy": record.final_val_accuracy,
        "best_val_accuracy": record.best_val_accuracy,
        "duration_s": record.duration_s,
        "seconds_per_epoch": _median(record.epoch_seconds),
        **{metric: list(record.history.get(metric, [])) for metric in CURVE_METRICS},
    }


def _median(values) -> float:
    return float(np.median(values)) if isinstance(values, list) and values else np.nan


def _as_list(values) -> list:
    return values if isinstance(values, list) else []


def _setting_key(value: Any) -> str:
    """A hashable stand-in for a parameter value; a missing value is a value of its own."""
    if _is_missing(value):
        return NOT_SET
    return json.dumps(value, sort_keys=True, default=str)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """Returns the parameters that tell settings apart: `weight_norm` and `data_init` when present,
    then every other parameter that varies across `runs`, except seed and paths.

    Example:

    >>> setting_columns(load_runs("runs/sweep"))
    ['weight_norm', 'data_init', 'learning_rate']
    """
    parameters = [
        column
        for column in runs.columns
        if column not in RUN_COLUMNS and column not in IGNORED_PARAMETERS
    ]
    primary = [column for column in PRIMARY_PARAMETERS if column in parameters]
    varying = [
        column
        for column in parameters
        if column not in primary and runs[column].map(_setting_key).nunique() > 1
    ]
    return primary + varying


def epochs_to_reach(curve: Sequence[float], target: float) -> float:
    """Returns the first epoch (counted from 1) whose value reaches `target`, or NaN if none does.

    Example:

    >>> epochs_to_reach([0.3, 0.45, 0.52, 0.6], target=0.5)
    3.0
    """
    reached = np.flatnonzero(np.asarray(curve, dtype=float) >= target)
    return float(reached[0] + 1) if reached.size else np.nan


def setting_label(row: pd.Series, columns: Sequence[str]) -> str:
    """Names a setting for tables and legends, e.g. "WeightNorm, data_init off, learning_rate=0.01".

    Example:

    >>> setting_label(pd.Series({"weight_norm": True, "data_init": False}),
    ...               ["weight_norm", "data_init"])
    'WeightNorm, data_init off'
    """
    parts = []
    for column in columns:
        value = row[column]
        if column == "weight_norm":
            parts.append("WeightNorm" if value else "regular")
        elif column == "data_init":
            if not pd.isna(value):
                parts.append(f"data_init {'on' if value else 'off'}")
        else:
            parts.append(f"{column} {NOT_SET}" if _is_missing(value) else f"{column}={value}")
    return ", ".join(parts) or "all runs"


def _comparable(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Completed runs, labelled by setting, each setting and seed counted once."""
    completed = runs[runs["status"] == "completed"].copy()
    if completed.empty:
        raise ValueError(
            "None of the runs completed, so there is nothing to summarize. "
            f"Received: `status` values {sorted(runs['status'].astype(str).unique())}"
        )
    runs = completed
    if {"weight_norm", "data_init"} <= set(runs.columns):
        # Regular models ignore data_init: a sweep over it trains them twice with the same seed.
        is_weightnorm = runs["weight_norm"].astype(bool)
        runs["data_init"] = runs["data_init"].astype("boolean").where(is_weightnorm)
    columns = setting_columns(runs)
    if "seed" in runs.columns:
        runs = runs.drop_duplicates(subset=[*columns, "seed"])
    if columns:
        runs = runs.sort_values(columns, kind="stable")
    runs["setting"] = runs.apply(setting_label, axis=1, columns=columns)
    return runs, columns


def check_target(target: float) -> None:
    """Checks a validation accuracy to reach: a number in (0, 1].

    Example:

    >>> check_target(float("nan"))
    Traceback (most recent call last):
    ValueError: Invalid value for `target`: expected a number in (0, 1]. Received: `target=nan`
    """
    check("target", target, is_number(target) and 0 < target <= 1, "a number in (0, 1]")


def summarize(runs: pd.DataFrame, target: float = 0.5) -> pd.DataFrame:
    """Summarizes completed runs over seeds, one row per setting.

    Columns: `setting`, the setting's parameters, `n` (seeds), then for final and best validation
    accuracy the `_mean`, `_std` and `_ci95` (half-width of the 95% Student t interval of the
    mean), `epochs_to_target_mean` (over the runs that reached `target`), `reached_target` (how
    many did) and `seconds_per_epoch`.

    Example:

    >>> summary = summarize(load_runs("runs/sweep"), target=0.5)
    >>> summary[["setting", "n", "final_val_accuracy_mean", "final_val_accuracy_ci95"]]
    """
    check_target(target)
    runs, columns = _comparable(runs)
    runs["epochs_to_target"] = runs["val_accuracy"].map(
        lambda curve: epochs_to_reach(curve, target)
    )
    grouped = runs.groupby(["setting", *columns], dropna=False, sort=False)
    accuracy = grouped[list(ACCURACY_METRICS)].agg(["mean", "std", "sem"])
    summary = pd.DataFrame({"n": grouped.size()})
    t_quantile = stats.t.ppf((1 + CONFIDENCE) / 2, summary["n"] - 1)
    for metric in ACCURACY_METRICS:
        summary[f"{metric}_mean"] = accuracy[(metric, "mean")]
        summary[f"{metric}_std"] = accuracy[(metric, "std")]
        summary[f"{metric}_ci95"] = accuracy[(metric, "sem")] * t_quantile
    summary["epochs_to_target_mean"] = grouped["epochs_to_target"].mean()
    summary["reached_target"] = grouped["epochs_to_target"].count()
    summary["seconds_per_epoch"] = grouped["seconds_per_epoch"].mean()
    return summary.reset_index()


def summary_markdown(
    summary: pd.DataFrame, target: float = 0.5, unreadable: Sequence[str] = ()
) -> str:
    """Renders a `summarize` table as compact markdown: mean ± 95% CI per accuracy.

    `unreadable` names the runs left out because their `metrics.json` could not be read; the
    text then says how many and which.

    Example:

    >>> runs = load_runs("runs/sweep")
    >>> print(summary_markdown(summarize(runs, 0.5), 0.5, unreadable_runs(runs)))
    """
    table = pd.DataFrame(
        {
            "setting": summary["setting"],
            "n": summary["n"],
            "final val_accuracy (mean ± 95% CI)": _mean_and_interval(summary, "final_val_accuracy"),
            "final std": summary["final_val_accuracy_std"].map(_number),
            "best val_accuracy (mean ± 95% CI)": _mean_and_interval(summary, "best_val_accuracy"),
            f"epochs to {target:g} (reached)": [
                f"{_number(mean, '.1f')} ({reached}/{n})"
                for mean, reached, n in zip(
                    summary["epochs_to_target_mean"], summary["reached_target"], summary["n"]
                )
            ],
            "s / epoch": summary["seconds_per_epoch"].map(lambda seconds: _number(seconds, ".2f")),
        }
    )
    caption = (
        f"Validation accuracy over seeds: mean ± half-width of the {CONFIDENCE:.0%} Student t "
        f"interval. Epochs to reach val_accuracy ≥ {target:g}: mean over the runs that did."
    )
    text = f"{caption}\n\n{table.to_markdown(index=False, disable_numparse=True)}\n"
    if unreadable:
        text += (
            f"\nLeft out: {len(unreadable)} run(s) whose metrics.json could not be read: "
            f"{', '.join(unreadable)}.\n"
        )
    return text


def unreadable_runs(runs: pd.DataFrame) -> list[str]:
    """The `path`s of the runs whose `metrics.json` could not be read (see `load_runs`).

    Example:

    >>> unreadable_runs(load_runs("runs/sweep"))
    ['seed=3-0f1e2d3c/weightnorm']
    """
    return runs.loc[runs["status"] == UNREADABLE, "path"].tolist()


def _number(value: float, spec: str = ".4f") -> str:
    return "-" if pd.isna(value) else format(value, spec)


def _mean_and_interval(summary: pd.DataFrame, metric: str) -> pd.Series:
    means = summary[f"{metric}_mean"].map(_number)
    intervals = summary[f"{metric}_ci95"].map(lambda ci: "" if pd.isna(ci) else f" ± {ci:.4f}")
    return means + intervals


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
    from labkit.live.smoothing import check_smoothing

    check("metric", metric, metric in CURVE_METRICS, f"one of {', '.join(CURVE_METRICS)}")
    check_smoothing(smoothing)
    check("log_y", log_y, isinstance(log_y, bool), "True or False")
    runs, columns = _comparable(runs)
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
    from labkit.live.smoothing import ema

    return ema(curve["mean"], smoothing), ema(curve["std"], smoothing)


def _band_y(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.concatenate([mean + std, (mean - std)[::-1]])


def _curve_traces(curve: dict, smoothing: float, faint: bool) -> list[go.Scatter]:
    """A setting's band, its faint raw mean (when `faint`), and its (smoothed) mean."""
    epochs, label = curve["epochs"], curve["label"]
    mean, std = _smoothed(curve, smoothing)
    traces = [
        go.Scatter(
            x=np.concatenate([epochs, epochs[::-1]]),
            y=_band_y(mean, std),
            fill="toself",
            fillcolor=_transparent(curve["color"]),
            line={"width": 0},
            hoverinfo="skip",
            legendgroup=label,
            showlegend=False,
        )
    ]
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
    steps = []
    for weight in weights:
        ys, visible = [], []
        for curve in curves:
            mean, std = _smoothed(curve, weight)
            ys += [_band_y(mean, std), curve["mean"], mean]
            visible += [True, weight > 0, True]
        steps.append(
            {
                "label": f"{weight:g}",
                "method": "restyle",
                "args": [{"y": ys, "visible": visible}],
            }
        )
    figure.update_layout(
        sliders=[
            {
                "active": weights.index(smoothing),
                "currentvalue": {"prefix": "smoothing: "},
                "steps": steps,
                "x": 0,
                "len": 0.45,
                "y": -0.18,
                "yanchor": "top",
                "pad": {"t": 10},
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "active": int(log_y),
                "buttons": [
                    {"label": label, "method": "relayout", "args": [{"yaxis.type": kind}]}
                    for label, kind in (("linear", "linear"), ("log", "log"))
                ],
                "x": 1,
                "xanchor": "right",
                "y": 1.12,
                "yanchor": "bottom",
                "showactive": True,
            }
        ],
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
    runs, columns = _comparable(runs)
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
    present = [value for value in values if not _is_missing(value)]
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
    if _is_missing(value):
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


def _transparent(color: str, alpha: float = 0.15) -> str:
    rgb = plotly.colors.convert_colors_to_same_type(color, colortype="rgb")[0][0]
    red, green, blue = plotly.colors.unlabel_rgb(rgb)
    return f"rgba({red:g}, {green:g}, {blue:g}, {alpha})"


# The report's figures: name (files are NAME.html and NAME.png), and what draws it.
REPORT_FIGURES = {
    "figure": "curves",
    "loss_figure": "loss_curves",
    "parallel": "parallel",
}


def write_figures(
    runs: pd.DataFrame, out_dir: str | os.PathLike, target: float = 0.5, images: bool = True
) -> dict[str, Path]:
    """Writes the report's figures as HTML (with their controls) and PNG into `out_dir`.

    `curves` (validation accuracy) and `loss_curves` (validation loss, when runs recorded it)
    per setting with their smoothing and log controls, and `parallel` (`parallel_figure`).
    The PNGs (unless `images` is false), the figures as they open, go through kaleido and a
    Chrome-family browser (`labkit.live.export`, one browser start for all); where none is
    installed they are left out with a one-line warning. Returns the paths by kind: `figure`,
    `loss_figure`, `parallel`, each with a `_png` twin.

    Example:

    >>> write_figures(load_runs("runs/sweep"), "runs/sweep")["parallel_png"]
    PosixPath('runs/sweep/parallel.png')
    """
    from labkit.live.export import image_export_problem, save_figures

    out_dir = Path(out_dir)
    figures = {
        "figure": curves_figure(runs, target, controls=True),
        "parallel": parallel_figure(runs),
    }
    if any(runs["val_loss"].map(len)):
        figures["loss_figure"] = curves_figure(runs, metric="val_loss", controls=True)
    paths = {}
    for kind, figure in figures.items():
        paths[kind] = out_dir / f"{REPORT_FIGURES[kind]}.html"
        atomic_write(paths[kind], figure.to_html())
    if not images:
        return paths
    problem = image_export_problem()
    if problem:
        warnings.warn(f"The report's PNG figures are left out: {problem}.", stacklevel=2)
        return paths
    images = {out_dir / f"{REPORT_FIGURES[kind]}.png": figure for kind, figure in figures.items()}
    save_figures(images)
    paths.update({f"{kind}_png": path for kind, path in zip(figures, images)})
    return paths


def write_report(
    runs_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    target: float = 0.5,
    images: bool = True,
) -> dict[str, Path]:
    """Writes `summary.csv`, `summary.md` and the figures (`write_figures`) for `runs_dir`'s runs.

    For a search folder (`labkit search`), `labkit.search.report.write_search_report` adds
    Optuna's figures and the best trial's command line. Files go to `out_dir`, or `runs_dir`
    itself; `images=False` leaves out the PNGs (which start a browser). Returns their paths by
    kind.

    Example:

    >>> write_report("runs/sweep", target=0.5)
    {'csv': PosixPath('runs/sweep/summary.csv'), 'markdown': ..., 'figure': ...}
    """
    check_target(target)
    out_dir = Path(out_dir if out_dir is not None else runs_dir)
    problem = writable_dir_problem(out_dir)
    if problem:
        raise ValueError(
            f"The report's folder must be a writable folder ({problem}). "
            f"Received: `out_dir={str(out_dir)!r}`"
        )
    runs = load_runs(runs_dir)
    summary = summarize(runs, target)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "summary.csv", "markdown": out_dir / "summary.md"}
    atomic_write(paths["csv"], summary.to_csv(index=False))
    atomic_write(paths["markdown"], summary_markdown(summary, target, unreadable_runs(runs)))
    paths.update(write_figures(runs, out_dir, target, images=images))
    if (Path(runs_dir) / JOURNAL_FILE).is_file():
        from labkit.search.report import write_search_report  # imports Optuna

        paths.update(write_search_report(runs_dir, out_dir, images=images))
    return paths
