"""Our runs beside the paper's Table 1: test error per epoch, and the final errors compared.

Salimans & Kingma (2016), Table 1, CIFAR-10 test error without data augmentation after 200
epochs: normal parameterization 8.43%, weight normalization 8.46%, batch normalization 8.05%,
weight normalization with mean-only batch normalization 7.31% (one number each; the table
also lists mean-only batch normalization alone, 8.52%, a model the authors' code does not
build). `paper_comparison` sets our final test errors beside them, as means with 95% Student t
intervals where several seeds ran, and computes the differences and both orderings; nothing
in it is typed in but the paper's four numbers.

This module needs pandas but not plotly, so that a GPU machine without plotly can write the
comparison (`labkit.paper.figures` draws it).

Example:

>>> from labkit.paper.compare import load_paper_results, paper_comparison
>>> paper_comparison(load_paper_results("runs/paper_cifar10"))
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.results import METRICS_FILE, RunRecord, read_record
from labkit.stats import mean_interval
from labkit.variants import NORMALIZATION_RUNS, NORMALIZATIONS, RUN_LABELS

__all__ = [
    "PAPER_TEST_ERROR",
    "PAPER_EPOCHS",
    "paper_comparison",
    "error_curves",
    "load_paper_results",
    "describe_comparison",
]

# Table 1 of the paper: test error after 200 epochs, by normalization.
PAPER_TEST_ERROR = {
    "none": 0.0843,
    "weightnorm": 0.0846,
    "batchnorm": 0.0805,
    "weightnorm+meanonly": 0.0731,
}
PAPER_EPOCHS = 200


def _normalization(run: Any, name: str) -> str:
    params = run.params if isinstance(run.params, dict) else run.params.to_dict()
    normalization = params.get("normalization")
    if normalization in NORMALIZATIONS:
        return normalization
    by_run = {run_name: norm for norm, run_name in NORMALIZATION_RUNS.items()}
    return by_run.get(name, name)


def error_curves(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per run and epoch: `run`, `normalization`, `epoch` (from 1), `error` (training,
    dropout and noise on) and `val_error` (test), from each run's history.

    Args:
        results: Runs keyed by name: `RunResult`s (from `run_paper_experiments`) or
            `RunRecord`s (from `load_paper_results`).

    Example:

    >>> error_curves(results).pivot(index="epoch", columns="run", values="val_error")
    """
    frames = []
    for name, run in results.items():
        history = run.history
        epochs = len(history.get("val_error", []))
        frames.append(
            pd.DataFrame(
                {
                    "run": name,
                    "normalization": _normalization(run, name),
                    "epoch": range(1, epochs + 1),
                    "error": history.get("error", [math.nan] * epochs)[:epochs],
                    "val_error": history["val_error"] if epochs else [],
                }
            )
        )
    columns = ["run", "normalization", "epoch", "error", "val_error"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def paper_comparison(results: Mapping[str, Any]) -> pd.DataFrame:
    """Our final test error beside Table 1's, one row per normalization, in the paper's order.

    Columns: `model`; `runs` (seeds); `epochs` (ours, the paper's 200 beside it);
    `test_error` (the mean final test error over the runs) and `half_width` (its 95% Student t
    half-width, NaN for one run); `paper_test_error`; `difference` (ours minus the paper's);
    `rank` and `paper_rank` (1 is the lowest error among the normalizations that ran).

    Example:

    >>> paper_comparison(run_paper_experiments(paper_runs("all", schedule="cpu")))
    """
    finals: dict[str, list[float]] = {}
    epochs: dict[str, list[int]] = {}
    for name, run in results.items():
        errors = [value for value in run.history.get("val_error", []) if value is not None]
        if not errors:
            continue
        normalization = _normalization(run, name)
        finals.setdefault(normalization, []).append(errors[-1])
        epochs.setdefault(normalization, []).append(len(errors))
    rows = []
    for normalization in [n for n in NORMALIZATIONS if n in finals]:
        interval = mean_interval(finals[normalization])
        paper = PAPER_TEST_ERROR[normalization]
        rows.append(
            {
                "normalization": normalization,
                "model": RUN_LABELS[NORMALIZATION_RUNS[normalization]],
                "runs": interval.n,
                "epochs": min(epochs[normalization]),
                "paper_epochs": PAPER_EPOCHS,
                "test_error": interval.mean,
                "half_width": interval.half_width,
                "paper_test_error": paper,
                "difference": interval.mean - paper,
            }
        )
    columns = ["model", "runs", "epochs", "paper_epochs", "test_error", "half_width"]
    columns += ["paper_test_error", "difference", "rank", "paper_rank"]
    if not rows:
        return pd.DataFrame(columns=columns).rename_axis("normalization")
    table = pd.DataFrame(rows).set_index("normalization")
    table["rank"] = table["test_error"].rank(method="min").astype(int)
    table["paper_rank"] = table["paper_test_error"].rank(method="min").astype(int)
    return table[columns]


def describe_comparison(table: pd.DataFrame) -> str:
    """A few sentences, computed from a `paper_comparison` table: how long we trained, each
    final test error beside the paper's, and whether the two orderings agree.

    Example:

    >>> print(describe_comparison(paper_comparison(results)))
    """
    if table.empty:
        return "No run has a test error yet."
    epochs = int(table["epochs"].min())
    runs = table["runs"]
    seeds = f"{int(runs.min())} seed" + ("s" if runs.min() > 1 else "") + " each"
    if runs.min() == 1:
        seeds += ", so no interval"
    lines = [f"After {epochs} epochs ({seeds}; the paper trained {PAPER_EPOCHS} epochs):"]
    for _, row in table.iterrows():
        interval = "" if math.isnan(row["half_width"]) else f" ± {row['half_width']:.2%}"
        lines.append(
            f"- {row['model']}: {row['test_error']:.2%}{interval} against the paper's "
            f"{row['paper_test_error']:.2%} ({row['difference'] * 100:+.2f} points)."
        )
    ours = " < ".join(table.sort_values("test_error").index)
    papers = " < ".join(table.sort_values("paper_test_error").index)
    agree = "the same as" if ours == papers else "not the same as"
    lines.append(f"Our order, lowest error first: {ours}; {agree} the paper's ({papers}).")
    return "\n".join(lines)


def load_paper_results(folder: str | os.PathLike) -> dict[str, RunRecord]:
    """The runs saved under `folder` (one sub-folder with a `metrics.json` each), by name.

    Example:

    >>> sorted(load_paper_results("runs/paper_cifar10"))
    ['batchnorm', 'regular', 'weightnorm', 'weightnorm_meanonly']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No runs folder at {folder}.")
    return {
        path.parent.name: read_record(path) for path in sorted(folder.glob(f"*/{METRICS_FILE}"))
    }
