"""The runs of a regimes study, read and summed up over seeds.

A setting is an optimizer, a learning rate and a normalization. Per setting:

- final validation accuracy, and the training loss of the last epoch (a run whose loss is not
  finite has diverged and is counted apart);
- steps and seconds until the training loss, averaged over windows of `LOSS_WINDOW` steps
  (of the per-step values `labkit.recording.StepRecorder` writes), first reaches a threshold,
  over the runs that reach it.

Example:

>>> runs = load_regime_runs("runs/regimes")
>>> summarize_regimes(runs, loss_threshold=1.8)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labkit._checks import check, is_number
from labkit.analysis.runs import load_runs, setting_columns
from labkit.results import read_record
from labkit.stats import Interval, finite_mean_interval
from labkit.variants import NORMALIZATIONS

__all__ = [
    "SETTING",
    "BASELINE",
    "LOSS_WINDOW",
    "OPTIMIZER_ORDER",
    "OPTIMIZER_LABELS",
    "NORMALIZATION_LABELS",
    "load_regime_runs",
    "loss_windows",
    "first_at_or_below",
    "check_threshold",
    "with_threshold",
    "ordered",
    "setting_groups",
    "summarize_regimes",
    "summary_table",
]

# What tells the compared settings apart; seeds are what each is summarized over.
SETTING = ("optimizer", "learning_rate", "normalization")
# The normalization every other one is compared with.
BASELINE = "none"
# The parameters that vary between the compared runs (`weight_norm`, derived from
# `normalization`, with it).
_COMPARED = (*SETTING, "weight_norm")
OPTIMIZER_ORDER = ("sgd", "momentum", "adam", "rmsprop", "adamw")
# Steps over which the training loss is averaged for the threshold and the loss curves: one
# step's loss (one batch) is too noisy to say when a threshold is first reached.
LOSS_WINDOW = 10
OPTIMIZER_LABELS = {
    "sgd": "plain SGD",
    "momentum": "SGD with momentum",
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "adamw": "AdamW",
}
NORMALIZATION_LABELS = {
    "none": "no normalization",
    "weightnorm": "WeightNorm",
    "batchnorm": "BatchNorm",
    "weightnorm+meanonly": "WeightNorm + mean-only BN",
}
# Summary measures: (column prefix, what it is, number format).
_MEASURES = {
    "val_accuracy": ("final val accuracy", ".3f"),
    "final_loss": ("final training loss", ".3f"),
    "steps_to_threshold": ("steps to threshold", ".0f"),
    "seconds_to_threshold": ("seconds to threshold", ".1f"),
}


def load_regime_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """Reads the completed runs below `runs_dir`, one row per trained model.

    Columns: `path`, `optimizer`, `learning_rate`, `normalization` (as `load_runs` reads it),
    `seed`, `final_val_accuracy`, `final_loss` (the last epoch's training loss), and per run
    the arrays `steps`, `step_loss` and `step_seconds`: the training loss `StepRecorder` wrote,
    averaged over windows of `LOSS_WINDOW` steps (`loss_windows`; empty for runs without them).
    Runs that did not complete are left out; unreadable files are named in a warning.

    Raises:
        ValueError: no run completed, or the runs also differ in another parameter (e.g.
            `epochs`), which would mix settings.

    Example:

    >>> runs = load_regime_runs("runs/regimes")
    >>> runs.groupby(["optimizer", "normalization"])["final_val_accuracy"].mean()
    """
    runs = load_runs(runs_dir)
    runs = runs[runs["status"] == "completed"].copy()
    check("runs_dir", str(runs_dir), not runs.empty, "a folder with completed runs")
    for name in ("optimizer", "learning_rate", "seed", "weight_norm"):
        if name not in runs.columns:
            raise ValueError(
                f"The runs do not record `{name}`: they are not labkit training runs. "
                f"Received: `runs_dir={str(runs_dir)!r}`"
            )
    mixed = [
        name
        for name in setting_columns(runs)
        if name not in _COMPARED and runs[name].astype(str).nunique() > 1
    ]
    if mixed:
        raise ValueError(
            f"The runs also differ in {', '.join(f'`{name}`' for name in mixed)}, so settings "
            "would be mixed; compare one value at a time (a runs folder per value). "
            f"Received: `runs_dir={str(runs_dir)!r}`"
        )
    runs = runs.drop_duplicates(subset=[*SETTING, "seed"])
    records = [read_record(Path(runs_dir) / path) for path in runs["path"]]
    runs["final_loss"] = [_last(record.history.get("loss")) for record in records]
    windows = [
        loss_windows(*(record.steps.get(key, []) for key in ("step", "loss", "seconds")))
        for record in records
    ]
    for index, column in enumerate(("steps", "step_loss", "step_seconds")):
        runs[column] = [window[index] for window in windows]
    columns = ["path", *SETTING, "seed", "final_val_accuracy", "final_loss", "steps"]
    return runs[[*columns, "step_loss", "step_seconds"]].reset_index(drop=True)


def _last(values: Sequence[float | None] | None) -> float:
    value = values[-1] if values else None
    return math.nan if value is None else float(value)


def loss_windows(
    steps: Sequence[float],
    losses: Sequence[float],
    seconds: Sequence[float],
    window: int = LOSS_WINDOW,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step records merged into windows of `window` steps: each window's last step, its
    mean loss (each record weighted by the steps it spans) and its last `seconds`.

    A record belongs to the window of its last step (steps 1-10, 11-20, ...): records that
    span a window or more (every 10 steps, as labkit wrote them before it recorded every
    step; executions of 32 steps with `steps_per_execution=32`) stay as they are. A last
    window may be shorter.

    Example:

    >>> [w.tolist() for w in loss_windows([1, 2, 3, 4], [4.0, 2.0, 1.0, 1.0], [1, 2, 3, 4], 2)]
    [[2.0, 4.0], [3.0, 1.0], [2.0, 4.0]]
    """
    steps, losses = np.asarray(steps, float), np.asarray(losses, float)
    seconds = np.asarray(seconds, float)
    if steps.size == 0:
        return steps, losses, seconds
    spans = np.diff(steps, prepend=0.0)
    blocks = (steps - 1) // window
    starts = np.flatnonzero(np.diff(blocks, prepend=-1))
    ends = np.append(starts[1:], len(steps)) - 1
    totals = np.add.reduceat(losses * spans, starts) / np.add.reduceat(spans, starts)
    return steps[ends], totals, seconds[ends]


def first_at_or_below(losses: Sequence[float], threshold: float) -> int | None:
    """The index of the first loss at or below `threshold` (NaN never is), or None.

    Example:

    >>> first_at_or_below([2.2, float("nan"), 1.7, 1.5], 1.8)
    2
    """
    reached = np.flatnonzero(np.asarray(losses, float) <= threshold)
    return int(reached[0]) if reached.size else None


def check_threshold(loss_threshold: float) -> None:
    """Checks a training-loss threshold: a positive, finite number.

    Example:

    >>> check_threshold(0)
    Traceback (most recent call last):
    ValueError: Invalid value for `loss_threshold`: expected a finite number > 0. Received: ...
    """
    ok = is_number(loss_threshold) and math.isfinite(loss_threshold) and loss_threshold > 0
    check("loss_threshold", loss_threshold, ok, "a finite number > 0")


def with_threshold(runs: pd.DataFrame, loss_threshold: float) -> pd.DataFrame:
    """`runs` with `steps_to_threshold` and `seconds_to_threshold` (NaN where not reached)."""
    check_threshold(loss_threshold)
    runs = runs.copy()
    reached = [first_at_or_below(losses, loss_threshold) for losses in runs["step_loss"]]
    for column, source in (
        ("steps_to_threshold", "steps"),
        ("seconds_to_threshold", "step_seconds"),
    ):
        runs[column] = [
            math.nan if index is None else float(values[index])
            for index, values in zip(reached, runs[source])
        ]
    return runs


def ordered(values, order: Sequence) -> list:
    """The distinct `values`, those in `order` first and in its order, then the rest sorted."""
    distinct = set(values)
    return [v for v in order if v in distinct] + sorted(distinct - set(order), key=str)


def setting_groups(runs: pd.DataFrame) -> Iterator[tuple[str, float, str, pd.DataFrame]]:
    """(optimizer, learning rate, normalization, runs) per setting, in reading order."""
    for optimizer in ordered(runs["optimizer"], OPTIMIZER_ORDER):
        of_optimizer = runs[runs["optimizer"] == optimizer]
        for rate in sorted(set(of_optimizer["learning_rate"])):
            at_rate = of_optimizer[of_optimizer["learning_rate"] == rate]
            for normalization in ordered(at_rate["normalization"], NORMALIZATIONS):
                yield (
                    optimizer,
                    rate,
                    normalization,
                    at_rate[at_rate["normalization"] == normalization],
                )


def summarize_regimes(runs: pd.DataFrame, loss_threshold: float) -> pd.DataFrame:
    """One row per optimizer, learning rate and normalization, summed up over seeds.

    Columns: `optimizer`, `learning_rate`, `normalization`, `n` (seeds); for `val_accuracy`,
    `final_loss`, `steps_to_threshold` and `seconds_to_threshold` the `_mean` and `_ci95`
    (half-width of the 95% Student t interval; NaN with fewer than two values); `diverged`
    (runs whose final training loss is not finite, left out of `final_loss`) and `reached`
    (runs that reached `loss_threshold`, the only ones in the `_to_threshold` columns).

    Example:

    >>> summary = summarize_regimes(load_regime_runs("runs/regimes"), loss_threshold=1.8)
    >>> summary[["optimizer", "learning_rate", "normalization", "val_accuracy_mean"]]
    """
    runs = with_threshold(runs, loss_threshold)
    rows = []
    for optimizer, rate, normalization, group in setting_groups(runs):
        row = {"optimizer": optimizer, "learning_rate": rate, "normalization": normalization}
        row["n"] = len(group)
        measures = {
            "val_accuracy": group["final_val_accuracy"],
            "final_loss": group["final_loss"],
            "steps_to_threshold": group["steps_to_threshold"],
            "seconds_to_threshold": group["seconds_to_threshold"],
        }
        for name, values in measures.items():
            interval = finite_mean_interval(values.astype(float))
            row[f"{name}_mean"], row[f"{name}_ci95"] = interval.mean, interval.half_width
        row["diverged"] = int((~np.isfinite(group["final_loss"].astype(float))).sum())
        row["reached"] = int(group["steps_to_threshold"].notna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """`summarize_regimes` as a readable table: `mean ± 95% CI` per measure, labels spelled out.

    Example:

    >>> summary_table(summarize_regimes(load_regime_runs("runs/regimes"), 1.8))
    """
    table = pd.DataFrame(
        {
            "optimizer": summary["optimizer"].map(lambda name: OPTIMIZER_LABELS.get(name, name)),
            "learning rate": summary["learning_rate"].map(lambda rate: f"{rate:g}"),
            "normalization": summary["normalization"].map(NORMALIZATION_LABELS.get),
            "n": summary["n"],
        }
    )
    for name, (label, spec) in _MEASURES.items():
        table[f"{label} (mean ± 95% CI)"] = [
            "-" if math.isnan(mean) else Interval(mean, ci, 0).format(spec)
            for mean, ci in zip(summary[f"{name}_mean"], summary[f"{name}_ci95"])
        ]
    table["diverged"] = summary["diverged"].astype(str) + "/" + summary["n"].astype(str)
    table["reached threshold"] = summary["reached"].astype(str) + "/" + summary["n"].astype(str)
    return table
