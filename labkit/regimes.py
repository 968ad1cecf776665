"""Where weight normalization helps (the import path before `labkit.analysis`).

Kept for a release: the names live in `labkit.analysis` (`regimes`, `regime_figures`,
`regime_verdict`, `regime_study`), which new code imports.

Example:

>>> from labkit.analysis import load_regime_runs, summarize_regimes, verdict
"""

from __future__ import annotations

from labkit.analysis.regime_figures import loss_curves_figure, sensitivity_figure, speed_figure
from labkit.analysis.regime_study import (
    FULL_STUDY_COMMAND,
    REDUCED_STUDY,
    REDUCED_STUDY_DIR,
    StudyPlan,
    reduced_study_note,
    run_study,
    study_runs,
)
from labkit.analysis.regime_verdict import (
    CORRECTION,
    accuracy_differences,
    speed_differences,
    verdict,
)
from labkit.analysis.regimes import (
    BASELINE,
    LOSS_WINDOW,
    NORMALIZATION_LABELS,
    OPTIMIZER_LABELS,
    SETTING,
    check_threshold,
    first_at_or_below,
    load_regime_runs,
    loss_windows,
    summarize_regimes,
    summary_table,
    with_threshold,
)

__all__ = [
    "SETTING",
    "BASELINE",
    "LOSS_WINDOW",
    "OPTIMIZER_LABELS",
    "NORMALIZATION_LABELS",
    "CORRECTION",
    "load_regime_runs",
    "loss_windows",
    "first_at_or_below",
    "check_threshold",
    "with_threshold",
    "summarize_regimes",
    "summary_table",
    "sensitivity_figure",
    "speed_figure",
    "loss_curves_figure",
    "accuracy_differences",
    "speed_differences",
    "verdict",
    "StudyPlan",
    "REDUCED_STUDY",
    "REDUCED_STUDY_DIR",
    "FULL_STUDY_COMMAND",
    "run_study",
    "study_runs",
    "reduced_study_note",
]
