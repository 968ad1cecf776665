"""Tables and figures that compare finished runs, and the tutorial's published numbers."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from labkit.results import RunResult
from labkit.variants import REGULAR, RUN_COLORS, RUN_LABELS, WEIGHTNORM

__all__ = ["RUN_COLORS", "RUN_LABELS", "TUTORIAL_REFERENCE", "results_table", "accuracy_figure"]

# Published with the TensorFlow Addons tutorial: original CIFAR-10, one GPU run, epoch 10.
TUTORIAL_REFERENCE = pd.DataFrame(
    {
        "accuracy": [0.6889, 0.7029],
        "val_accuracy": [0.6029, 0.6018],
        "val_loss": [1.1509, 1.1593],
    },
    index=pd.Index([REGULAR, WEIGHTNORM], name="run"),
)


def results_table(
    results: Mapping[str, RunResult], reference: pd.DataFrame | None = TUTORIAL_REFERENCE
) -> pd.DataFrame:
    """One row per run: final metrics, best val_accuracy, time, and the tutorial's numbers.

    Args:
        results: Runs keyed by name, as `run_experiments` returns them.
        reference: Published numbers indexed by run name (columns `accuracy`,
            `val_accuracy`, `val_loss`), shown beside ours; `None` leaves them out.

    Example:

    >>> results_table(run_experiments(tutorial_runs("both", epochs=1, train_limit=2000)))
    """
    rows = []
    for name, result in results.items():
        last = {key: values[-1] for key, values in result.history.items() if values}
        row = {
            "run": name,
            "model": RUN_LABELS.get(name, name),
            "status": result.status,
            "epochs": result.epochs_completed,
            "accuracy": last.get("accuracy"),
            "val_accuracy": last.get("val_accuracy"),
            "val_loss": last.get("val_loss"),
            "best_val_accuracy": result.best_val_accuracy,
            "seconds_per_epoch": (
                sum(result.epoch_seconds) / len(result.epoch_seconds)
                if result.epoch_seconds
                else None
            ),
        }
        if reference is not None and name in reference.index:
            for column in reference.columns:
                row[f"tutorial_{column}"] = reference.loc[name, column]
        rows.append(row)
    return pd.DataFrame(rows).set_index("run").round(4)


def accuracy_figure(
    results: Mapping[str, RunResult], title: str = "WeightNorm accuracy comparison"
) -> go.Figure:
    """The tutorial's accuracy plot: train (solid) and validation (dashed) accuracy per epoch.

    Example:

    >>> accuracy_figure(results).show()
    """
    figure = go.Figure()
    for name, result in results.items():
        epochs = list(range(1, result.epochs_completed + 1))
        for metric, dash in (("accuracy", "solid"), ("val_accuracy", "dash")):
            split = "val" if metric.startswith("val_") else "train"
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=result.history.get(metric, []),
                    mode="lines+markers",
                    name=f"{RUN_LABELS.get(name, name)} ({split})",
                    legendgroup=name,
                    line={"color": RUN_COLORS.get(name), "dash": dash},
                )
            )
    figure.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="accuracy",
        template="plotly_white",
        hovermode="x unified",
    )
    return figure
