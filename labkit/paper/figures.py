"""The paper's Figure 1, ours: test error per epoch of each normalization, with Table 1's final
errors drawn beside the curves.

Example:

>>> from labkit.paper.figures import error_figure
>>> error_figure(load_paper_results("runs/paper_cifar10")).show()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from labkit.paper.compare import PAPER_EPOCHS, PAPER_TEST_ERROR, error_curves
from labkit.variants import NORMALIZATION_RUNS, NORMALIZATIONS, RUN_COLORS, RUN_LABELS

__all__ = ["error_figure"]


def error_figure(
    results: Mapping[str, Any],
    training: bool = True,
    title: str = "CIFAR-10 test error per epoch",
) -> go.Figure:
    """Test error (solid) and training error (dotted) per epoch of each run, and the paper's
    final test error of each normalization (a dashed line across the plot, its value in the
    legend).

    Args:
        results: `RunResult`s or `RunRecord`s keyed by run name.
        training: Also draw the training error (dropout and noise on).
        title: The figure's title.

    Example:

    >>> error_figure(run_paper_experiments(paper_runs("all", schedule="cpu")))
    """
    curves = error_curves(results)
    order = {normalization: index for index, normalization in enumerate(NORMALIZATIONS)}
    curves = curves.assign(order=curves["normalization"].map(order).fillna(len(order)))
    curves = curves.sort_values(["order", "run", "epoch"], kind="stable")
    figure = go.Figure()
    for (name, normalization), run in curves.groupby(["run", "normalization"], sort=False):
        run_name = NORMALIZATION_RUNS.get(normalization, name)
        label = RUN_LABELS.get(run_name, name)
        epochs = run["epoch"]
        # (y values, legend name, line dash, mode) of each curve of this run
        curves_of_run = [(run["val_error"], f"{label} (test)", "solid", "lines+markers")]
        if training:
            curves_of_run.append((run["error"], f"{label} (train)", "dot", "lines"))
        if normalization in PAPER_TEST_ERROR:
            paper = PAPER_TEST_ERROR[normalization]
            legend = f"{label}, paper ({PAPER_EPOCHS} epochs): {paper:.2%}"
            curves_of_run.append(([paper] * len(epochs), legend, "dash", "lines"))
        for values, legend, dash, mode in curves_of_run:
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=values,
                    mode=mode,
                    name=legend,
                    legendgroup=name,
                    line={"color": RUN_COLORS.get(run_name), "dash": dash},
                )
            )
    figure.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="error",
        yaxis_tickformat=".0%",
        template="plotly_white",
        hovermode="x unified",
    )
    return figure
