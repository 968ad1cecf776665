"""Reading results: the runs of a sweep or a study, summed up, drawn and reported.

Data flows one way through it, as through labkit: `runs` reads every `metrics.json` below a
folder (through `labkit.results`) into one row per trained model, grouped into settings;
`summary` sums each setting up over seeds with 95% intervals (`labkit.stats`); `figures` draws
the mean curves and the parallel coordinates of a sweep; `report` writes the table and the
figures beside the runs (`labkit report`). The regimes study, where weight normalization
helps, reads its runs the same way: `regimes` (its runs and their summary), `regime_figures`,
`regime_verdict` (a verdict computed from the numbers, corrected for multiple comparisons)
and `regime_study` (the reduced study it trains, through `labkit.experiment`, when no runs
folder is given). Every figure is drawn with `labkit.plotting`.

This namespace holds what a notebook or a script calls; the constants and helpers the modules
share stay in their modules. Names are imported on first use, so that reading runs does not
import plotly or Keras.

Example:

>>> from labkit import analysis
>>> runs = analysis.load_runs("runs/sweep")
>>> analysis.summarize(runs, target=0.5)
>>> analysis.write_report("runs/sweep")
>>> print(analysis.verdict(analysis.load_regime_runs("runs/regimes"), loss_threshold=1.8))
"""

from __future__ import annotations

from labkit._lazy import lazy_names

_LAZY = {
    "CURVE_METRICS": "labkit.analysis.runs",
    "load_runs": "labkit.analysis.runs",
    "unreadable_runs": "labkit.analysis.runs",
    "setting_columns": "labkit.analysis.runs",
    "setting_label": "labkit.analysis.runs",
    "epochs_to_reach": "labkit.analysis.summary",
    "summarize": "labkit.analysis.summary",
    "summary_markdown": "labkit.analysis.summary",
    "curves_figure": "labkit.analysis.figures",
    "parallel_figure": "labkit.analysis.figures",
    "REPORT_FIGURES": "labkit.analysis.report",
    "write_figures": "labkit.analysis.report",
    "write_report": "labkit.analysis.report",
    "OPTIMIZER_LABELS": "labkit.analysis.regimes",
    "NORMALIZATION_LABELS": "labkit.analysis.regimes",
    "load_regime_runs": "labkit.analysis.regimes",
    "with_threshold": "labkit.analysis.regimes",
    "summarize_regimes": "labkit.analysis.regimes",
    "summary_table": "labkit.analysis.regimes",
    "sensitivity_figure": "labkit.analysis.regime_figures",
    "speed_figure": "labkit.analysis.regime_figures",
    "loss_curves_figure": "labkit.analysis.regime_figures",
    "CORRECTION": "labkit.analysis.regime_verdict",
    "accuracy_differences": "labkit.analysis.regime_verdict",
    "speed_differences": "labkit.analysis.regime_verdict",
    "verdict": "labkit.analysis.regime_verdict",
    "StudyPlan": "labkit.analysis.regime_study",
    "REDUCED_STUDY": "labkit.analysis.regime_study",
    "REDUCED_STUDY_DIR": "labkit.analysis.regime_study",
    "FULL_STUDY_COMMAND": "labkit.analysis.regime_study",
    "run_study": "labkit.analysis.regime_study",
    "study_runs": "labkit.analysis.regime_study",
    "reduced_study_note": "labkit.analysis.regime_study",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
