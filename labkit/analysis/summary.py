"""A sweep's runs summed up per setting over seeds: means with 95% intervals, as a table.

The intervals are `labkit.stats.mean_interval`'s (Student t over the seeds).

Example:

>>> runs = load_runs("runs/sweep")
>>> summary = summarize(runs, target=0.5)
>>> print(summary_markdown(summary, 0.5, unreadable_runs(runs)))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from labkit._checks import check, is_number
from labkit.analysis.runs import ACCURACY_METRICS, comparable_runs
from labkit.stats import CONFIDENCE, finite_mean_interval

__all__ = ["check_target", "epochs_to_reach", "summarize", "summary_markdown"]


def check_target(target: float) -> None:
    """Checks a validation accuracy to reach: a number in (0, 1].

    Example:

    >>> check_target(float("nan"))
    Traceback (most recent call last):
    ValueError: Invalid value for `target`: expected a number in (0, 1]. Received: `target=nan`
    """
    check("target", target, is_number(target) and 0 < target <= 1, "a number in (0, 1]")


def epochs_to_reach(curve: Sequence[float], target: float) -> float:
    """Returns the first epoch (counted from 1) whose value reaches `target`, or NaN if none does.

    Example:

    >>> epochs_to_reach([0.3, 0.45, 0.52, 0.6], target=0.5)
    3.0
    """
    reached = np.flatnonzero(np.asarray(curve, dtype=float) >= target)
    return float(reached[0] + 1) if reached.size else np.nan


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
    runs, columns = comparable_runs(runs)
    runs["epochs_to_target"] = runs["val_accuracy"].map(
        lambda curve: epochs_to_reach(curve, target)
    )
    grouped = runs.groupby(["setting", *columns], dropna=False, sort=False)
    summary = pd.DataFrame({"n": grouped.size()})
    for metric in ACCURACY_METRICS:
        intervals = grouped[metric].agg(finite_mean_interval)
        summary[f"{metric}_mean"] = [interval.mean for interval in intervals]
        summary[f"{metric}_std"] = grouped[metric].std()
        summary[f"{metric}_ci95"] = [interval.half_width for interval in intervals]
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


def _number(value: float, spec: str = ".4f") -> str:
    return "-" if pd.isna(value) else format(value, spec)


def _mean_and_interval(summary: pd.DataFrame, metric: str) -> pd.Series:
    means = summary[f"{metric}_mean"].map(_number)
    intervals = summary[f"{metric}_ci95"].map(lambda ci: "" if pd.isna(ci) else f" ± {ci:.4f}")
    return means + intervals
