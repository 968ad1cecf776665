"""Statistics over the runs of a sweep (the import path before `labkit.analysis`).

Kept for a release: the names live in `labkit.analysis` (`runs`, `summary`, `figures`,
`report`), which new code imports.

Example:

>>> from labkit.analysis import load_runs, summarize, write_report
"""

from __future__ import annotations

from labkit.analysis.figures import CURVE_SMOOTHING_STEPS, curves_figure, parallel_figure
from labkit.analysis.report import REPORT_FIGURES, write_figures, write_report
from labkit.analysis.runs import (
    ACCURACY_METRICS,
    CURVE_METRICS,
    IGNORED_PARAMETERS,
    NOT_SET,
    PRIMARY_PARAMETERS,
    RUN_COLUMNS,
    UNREADABLE,
    load_runs,
    setting_columns,
    setting_label,
    unreadable_runs,
)
from labkit.analysis.summary import check_target, epochs_to_reach, summarize, summary_markdown
from labkit.stats import CONFIDENCE

__all__ = [
    "IGNORED_PARAMETERS",
    "PRIMARY_PARAMETERS",
    "RUN_COLUMNS",
    "CURVE_METRICS",
    "ACCURACY_METRICS",
    "CONFIDENCE",
    "UNREADABLE",
    "NOT_SET",
    "CURVE_SMOOTHING_STEPS",
    "REPORT_FIGURES",
    "load_runs",
    "setting_columns",
    "epochs_to_reach",
    "setting_label",
    "check_target",
    "summarize",
    "summary_markdown",
    "unreadable_runs",
    "curves_figure",
    "parallel_figure",
    "write_figures",
    "write_report",
]
