"""Statistics over the runs of a sweep: a table over seeds and mean validation curves.

Every `metrics.json` below a folder is one trained model. Completed runs are grouped into settings
by the parameters that vary between them (seed and paths aside; `weight_norm` and `data_init`
always), and each setting is summarized over its seeds.

Example:

>>> runs = load_runs("runs/sweep")
>>> summarize(runs, target=0.5)[["setting", "n", "final_val_accuracy_mean"]]
>>> curves_figure(runs, target=0.5).show()
>>> write_report("runs/sweep")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from scipy import stats

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
)
ACCURACY_METRICS = ("final_val_accuracy", "best_val_accuracy")
CONFIDENCE = 0.95

_PALETTES = {
    "regular": plotly.colors.sequential.Reds[-3::-1],
    "weightnorm": plotly.colors.sequential.Blues[-3::-1],
    "other": plotly.colors.qualitative.Plotly,
}


def load_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """Reads every `metrics.json` below `runs_dir` into one row per trained model.

    Columns: `path` (the model's folder, relative to `runs_dir`), `run_name`, `status`, one column
    per parameter in `params`, `epochs_completed`, `final_val_accuracy`, `best_val_accuracy`,
    `seconds_per_epoch` (median over epochs, so the first epoch's tracing does not count),
    `duration_s` and `val_accuracy` (the per-epoch list).

    Example:

    >>> runs = load_runs("runs/sweep")
    >>> runs.groupby("weight_norm")["final_val_accuracy"].mean()
    """
    runs_dir = Path(runs_dir)
    paths = sorted(runs_dir.rglob("metrics.json"))
    if not paths:
        raise FileNotFoundError(
            f"No metrics.json below the runs folder. Received: `runs_dir={str(runs_dir)!r}`"
        )
    flat = pd.json_normalize([json.loads(path.read_text()) for path in paths], max_level=1)
    parameters = [column for column in flat.columns if column.startswith("params.")]
    fields = ["run_name", "status", "epochs_completed", *ACCURACY_METRICS, "duration_s"]
    flat = flat.reindex(columns=[*fields, "epoch_seconds", "history.val_accuracy", *parameters])
    runs = pd.concat(
        [
            pd.DataFrame({"path": [str(path.parent.relative_to(runs_dir)) for path in paths]}),
            flat[["run_name", "status"]],
            _parameter_columns(flat[parameters]),
            flat[fields[2:]],
        ],
        axis=1,
    )
    runs["seconds_per_epoch"] = flat["epoch_seconds"].map(_median)
    runs["val_accuracy"] = flat["history.val_accuracy"].map(_as_list)
    return runs


def _parameter_columns(parameters: pd.DataFrame) -> pd.DataFrame:
    """`params.*` columns without their prefix; a name that is also a run column is dropped."""
    parameters = parameters.rename(columns=lambda column: column.removeprefix("params."))
    return parameters.drop(columns=[column for column in parameters if column in RUN_COLUMNS])


def _median(values) -> float:
    return float(np.median(values)) if isinstance(values, list) and values else np.nan


def _as_list(values) -> list:
    return values if isinstance(values, list) else []


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
        if column not in primary and runs[column].astype(str).nunique() > 1
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
            parts.append(f"{column}={value}")
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


def summary_markdown(summary: pd.DataFrame, target: float = 0.5) -> str:
    """Renders a `summarize` table as compact markdown: mean ± 95% CI per accuracy.

    Example:

    >>> print(summary_markdown(summarize(load_runs("runs/sweep"), 0.5), 0.5))
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
    return f"{caption}\n\n{table.to_markdown(index=False, disable_numparse=True)}\n"


def _number(value: float, spec: str = ".4f") -> str:
    return "-" if pd.isna(value) else format(value, spec)


def _mean_and_interval(summary: pd.DataFrame, metric: str) -> pd.Series:
    means = summary[f"{metric}_mean"].map(_number)
    intervals = summary[f"{metric}_ci95"].map(lambda ci: "" if pd.isna(ci) else f" ± {ci:.4f}")
    return means + intervals


def curves_figure(runs: pd.DataFrame, target: float | None = None) -> go.Figure:
    """Plots mean validation accuracy per epoch for each setting, with a ±std band over seeds.

    Regular models are red, WeightNorm models blue (other settings take other shades); dashed
    lines have data_init off. `target`, when given, is drawn as a dotted line.

    Example:

    >>> curves_figure(load_runs("runs/sweep"), target=0.5).write_html("curves.html")
    """
    runs, columns = _comparable(runs)
    figure = go.Figure()
    shades: dict[str, dict[tuple, int]] = {family: {} for family in _PALETTES}
    for label, group in runs.groupby("setting", sort=False):
        curves = pd.DataFrame(group["val_accuracy"].tolist())
        mean, std = curves.mean(), curves.std()
        epochs = np.arange(1, len(mean) + 1)
        first = group.iloc[0]
        family = _family(first)
        others = tuple(str(first[column]) for column in columns if column not in PRIMARY_PARAMETERS)
        shade = shades[family].setdefault(others, len(shades[family]))
        color = _PALETTES[family][shade % len(_PALETTES[family])]
        data_init = first.get("data_init")
        dash = (
            "dash" if data_init is not None and not pd.isna(data_init) and not data_init else None
        )
        figure.add_scatter(
            x=np.concatenate([epochs, epochs[::-1]]),
            y=np.concatenate([mean + std, (mean - std)[::-1]]),
            fill="toself",
            fillcolor=_transparent(color),
            line={"width": 0},
            hoverinfo="skip",
            legendgroup=label,
            showlegend=False,
        )
        figure.add_scatter(
            x=epochs,
            y=mean,
            customdata=std,
            name=f"{label} (n={len(group)})",
            line={"color": color, "dash": dash},
            legendgroup=label,
            hovertemplate="epoch %{x}: %{y:.4f} ± %{customdata:.4f}",
        )
    if target is not None:
        figure.add_hline(y=target, line={"dash": "dot", "color": "gray"})
    figure.update_layout(
        title="Validation accuracy: mean ± std over seeds",
        xaxis_title="epoch",
        yaxis_title="validation accuracy",
        template="plotly_white",
    )
    return figure


def _family(row: pd.Series) -> str:
    if "weight_norm" not in row:
        return "other"
    return "weightnorm" if row["weight_norm"] else "regular"


def _transparent(color: str, alpha: float = 0.15) -> str:
    rgb = plotly.colors.convert_colors_to_same_type(color, colortype="rgb")[0][0]
    red, green, blue = plotly.colors.unlabel_rgb(rgb)
    return f"rgba({red:g}, {green:g}, {blue:g}, {alpha})"


def write_report(
    runs_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, target: float = 0.5
) -> dict[str, Path]:
    """Writes `summary.csv`, `summary.md` and `curves.html` for the runs below `runs_dir`.

    Files go to `out_dir`, or `runs_dir` itself. Returns their paths by kind.

    Example:

    >>> write_report("runs/sweep", target=0.5)
    {'csv': PosixPath('runs/sweep/summary.csv'), 'markdown': ..., 'figure': ...}
    """
    runs = load_runs(runs_dir)
    summary = summarize(runs, target)
    out_dir = Path(out_dir if out_dir is not None else runs_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / "summary.csv",
        "markdown": out_dir / "summary.md",
        "figure": out_dir / "curves.html",
    }
    summary.to_csv(paths["csv"], index=False)
    paths["markdown"].write_text(summary_markdown(summary, target))
    curves_figure(runs, target).write_html(paths["figure"])
    return paths
