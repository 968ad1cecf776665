"""Search a notebook's parameters with Optuna: trials are papermill runs, bad ones pruned.

A search asks Optuna for a trial's parameters, runs the notebook with them (once per seed) as a
sweep runs it, and tells Optuna the mean of the objective's last value; while the notebook
trains, the value it records after every epoch is reported, and a trial the pruner rejects is
stopped. Everything is checked before the first trial. The runs land in the sweep's folder
layout (so `labkit report` reads a search folder like any other), and the Optuna study is kept
beside them:

    RUNS_DIR/
        .labkit.lock, runs.csv, one folder per run    as for `labkit sweep`
        study.journal                                  the Optuna study (JournalFileBackend)

The package's modules, in the order a search uses them:

    options    the samplers, pruners, directions and the journal's name (no Optuna import)
    space      a space file's entries: `Dimension`s and their Optuna distributions
    planning   `plan_search`: a search checked against the notebook; a trial's runs
    study      the study in its journal: created, resumed, its unfinished trials queued again
    trial      `TrialRuns`: one trial's runs, their values per epoch, pruning, its outcome
    runner     `run_search`
    report     what the search learned: Optuna's figures and the best trial's command line

Example:

>>> plan = plan_search("notebooks/weight_norm.ipynb", load_space_file("space.yaml"),
...                    {"model": "weightnorm", "epochs": "3"}, objective="val_accuracy")
>>> study = run_search(plan, "runs/search", trials=20, jobs=2)
>>> write_search_report("runs/search")
"""

from __future__ import annotations

from labkit._lazy import lazy_names
from labkit.search.options import DIRECTIONS, JOURNAL_FILE, PRUNERS, SAMPLERS

# Everything else needs Optuna, which is imported on first use.
_LAZY = {
    "Dimension": "labkit.search.space",
    "load_space_file": "labkit.search.space",
    "parse_dimension": "labkit.search.space",
    "SearchPlan": "labkit.search.planning",
    "plan_search": "labkit.search.planning",
    "search_validator": "labkit.search.planning",
    "open_study": "labkit.search.study",
    "load_search_study": "labkit.search.study",
    "count_finished": "labkit.search.study",
    "trial_states": "labkit.search.study",
    "ObjectiveError": "labkit.search.trial",
    "TrialRuns": "labkit.search.trial",
    "run_search": "labkit.search.runner",
    "describe_trial": "labkit.search.runner",
    "study_summary": "labkit.search.report",
    "write_search_report": "labkit.search.report",
}

__all__ = ["DIRECTIONS", "JOURNAL_FILE", "PRUNERS", "SAMPLERS", *_LAZY]

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
