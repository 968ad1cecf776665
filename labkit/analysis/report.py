"""The report of a runs folder: `summary.csv`, `summary.md` and the figures, written beside it.

Example:

>>> write_report("runs/sweep", target=0.5)
{'csv': PosixPath('runs/sweep/summary.csv'), 'markdown': ..., 'figure': ...}
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from labkit._io import atomic_write, writable_dir_problem
from labkit.analysis.figures import curves_figure, parallel_figure
from labkit.analysis.runs import load_runs, unreadable_runs
from labkit.analysis.summary import check_target, summarize, summary_markdown
from labkit.plotting.export import image_export_problem, save_figures
from labkit.search.options import JOURNAL_FILE

__all__ = ["REPORT_FIGURES", "write_figures", "write_report"]


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
    Chrome-family browser (`labkit.plotting.export`, one browser start for all); where none is
    installed they are left out with a one-line warning. Returns the paths by kind: `figure`,
    `loss_figure`, `parallel`, each with a `_png` twin.

    Example:

    >>> write_figures(load_runs("runs/sweep"), "runs/sweep")["parallel_png"]
    PosixPath('runs/sweep/parallel.png')
    """
    out_dir = Path(out_dir)
    figures = {
        "figure": curves_figure(runs, target, controls=True),
        "parallel": parallel_figure(runs),
    }
    if any(runs["val_loss"].map(len)):
        figures["loss_figure"] = curves_figure(runs, metric="val_loss", controls=True)
    paths = {kind: out_dir / f"{REPORT_FIGURES[kind]}.html" for kind in figures}
    save_figures({paths[kind]: figure for kind, figure in figures.items()})
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
