"""The runs of a sweep, read: one row per trained model, grouped into settings.

Every `metrics.json` below a folder is one trained model, read through `labkit.results` (the one
definition of that file). A file that cannot be read (empty, truncated, not a run's results) is
named in a warning, left out, and counted in the summary. Completed runs are grouped into settings
by the parameters that vary between them (seed and paths aside; `weight_norm` and `data_init`
always; a parameter set in some runs and not in others varies too). `weight_norm` is derived from
`normalization`: runs that are all the regular or the WeightNorm ConvNet are told apart by
`weight_norm` alone ("regular", "WeightNorm"), as before `normalization` existed.

Example:

>>> runs = load_runs("runs/sweep")
>>> setting_columns(runs)
['weight_norm', 'data_init', 'learning_rate']
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

from labkit.results import METRICS_FILE, ResultFileError, RunRecord, read_record
from labkit.variants import normalization_of

__all__ = [
    "IGNORED_PARAMETERS",
    "PRIMARY_PARAMETERS",
    "RUN_COLUMNS",
    "CURVE_METRICS",
    "ACCURACY_METRICS",
    "UNREADABLE",
    "NOT_SET",
    "load_runs",
    "unreadable_runs",
    "setting_columns",
    "setting_label",
    "comparable_runs",
    "is_missing",
]

# Parameters that never define a setting: seeds are what a setting is summarized over, the rest
# say where things are, not what was trained.
IGNORED_PARAMETERS = ("seed", "output_dir", "archive", "live")
# Always settings when present, in this order and first.
PRIMARY_PARAMETERS = ("weight_norm", "data_init")
# The normalizations `weight_norm` alone tells apart (False, True).
_WEIGHT_NORM_ALONE = {normalization_of(False), normalization_of(True)}
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
# The `status` of a run whose metrics.json could not be read.
UNREADABLE = "unreadable"
# How a parameter that a run does not have reads in setting labels.
NOT_SET = "not set"


def load_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """Reads every `metrics.json` below `runs_dir` into one row per trained model.

    Columns: `path` (the model's folder, relative to `runs_dir`), `run_name`, `status`, one column
    per parameter in `params`, `epochs_completed`, `final_val_accuracy`, `best_val_accuracy`,
    `seconds_per_epoch` (median over epochs, so the first epoch's tracing does not count),
    `duration_s`, and the per-epoch lists `val_accuracy`, `val_loss` and `loss` (empty where a
    run did not record them). A file that cannot be read is named in
    a warning and gets a row with only its `path` and the status `"unreadable"`. Runs that
    labkit recorded before `normalization` was the one field (`normalization: null`) read
    with the normalization their `weight_norm` says.

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
        if not params.get("normalization") and isinstance(params.get("weight_norm"), bool):
            params["normalization"] = normalization_of(params["weight_norm"])
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
    if is_missing(value):
        return NOT_SET
    return json.dumps(value, sort_keys=True, default=str)


def is_missing(value: Any) -> bool:
    """Whether a parameter value is absent from a run (None, NaN or `pd.NA`).

    Example:

    >>> is_missing(float("nan")), is_missing(False)
    (True, False)
    """
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def setting_columns(runs: pd.DataFrame) -> list[str]:
    """Returns the parameters that tell settings apart: `weight_norm` and `data_init` when present,
    then every other parameter that varies across `runs`, except seed and paths, and except
    `normalization` where `weight_norm` says all it does (only `"none"` and `"weightnorm"`).

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
    said = "normalization" in parameters and set(runs["normalization"].dropna())
    if "weight_norm" in primary and said and said <= _WEIGHT_NORM_ALONE:
        parameters.remove("normalization")
    varying = [
        column
        for column in parameters
        if column not in primary and runs[column].map(_setting_key).nunique() > 1
    ]
    return primary + varying


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
            parts.append(f"{column} {NOT_SET}" if is_missing(value) else f"{column}={value}")
    return ", ".join(parts) or "all runs"


def comparable_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The completed runs, each labelled by its setting (a `setting` column), each setting and
    seed counted once, sorted by setting; and the columns that tell settings apart.

    Raises:
        ValueError: none of the runs completed.

    Example:

    >>> completed, columns = comparable_runs(load_runs("runs/sweep"))
    >>> completed.groupby("setting")["final_val_accuracy"].mean()
    """
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


def unreadable_runs(runs: pd.DataFrame) -> list[str]:
    """The `path`s of the runs whose `metrics.json` could not be read (see `load_runs`).

    Example:

    >>> unreadable_runs(load_runs("runs/sweep"))
    ['seed=3-0f1e2d3c/weightnorm']
    """
    return runs.loc[runs["status"] == UNREADABLE, "path"].tolist()
