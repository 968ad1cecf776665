"""Where weight normalization helps: normalizations compared across optimizers and learning rates.

A sweep of the tutorial notebook with `normalization=all` over optimizers, learning rates and
seeds (`notebooks/where_weightnorm_helps.grid.yaml`) trains every ConvNet of `build_convnet` in
every setting; without one, `study_runs` trains a reduced study here. This package reads such
a runs folder and sums each setting up over seeds with 95% intervals (`runs`), draws the
comparison (`figures`) and words a verdict from the numbers (`verdict`): a difference is called
only where it holds after the Holm-Bonferroni correction for the number of comparisons.

Example:

>>> folder = study_runs(runs_dir)  # `runs_dir`, or the reduced study trained now
>>> runs = load_regime_runs(folder)
>>> summary = summarize_regimes(runs, loss_threshold=1.8)
>>> sensitivity_figure(summary).show()
>>> print(verdict(runs, loss_threshold=1.8))
"""

from __future__ import annotations

from labkit.regimes.figures import loss_curves_figure, sensitivity_figure, speed_figure
from labkit.regimes.runs import (
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
from labkit.regimes.study import (
    FULL_STUDY_COMMAND,
    REDUCED_STUDY,
    REDUCED_STUDY_DIR,
    StudyPlan,
    reduced_study_note,
    run_study,
    study_runs,
)
from labkit.regimes.verdict import (
    CORRECTION,
    accuracy_differences,
    speed_differences,
    verdict,
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
