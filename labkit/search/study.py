"""The Optuna study of a search: kept in the runs folder as a journal file, resumed from it.

The journal (`RUNS_DIR/study.journal`, Optuna's `JournalFileBackend`) is a plain append-only
file that several processes can read and write without a database server. It holds every trial:
its parameters, the value per epoch it reported, its state (complete, pruned, failed) and the
run folders it used. Rerunning the same search opens the same study and goes on: a trial that a
stopped search left unfinished is recorded as failed (`interrupted`) and queued again with the
same parameters, so the runs it had completed are not run again.

Example:

>>> study = open_study("runs/search", plan)
>>> count_finished(study)
12
"""

from __future__ import annotations

import collections
import json
import math
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from labkit._checks import check_choice
from labkit.search.options import JOURNAL_FILE, PRUNERS, SAMPLERS
from labkit.search.planning import SearchPlan

__all__ = [
    "ERROR_ATTR",
    "PLAN_ATTR",
    "RETRY_ATTR",
    "RUNS_ATTR",
    "STUDY_NAME",
    "count_finished",
    "grid_size",
    "interrupt_trial",
    "interrupted_trials",
    "load_search_study",
    "make_pruner",
    "make_sampler",
    "open_study",
    "requeue_unfinished",
    "trial_states",
]

STUDY_NAME = "labkit-search"
# TPE samples at random until this many trials finished (Optuna's default), or a third of a
# smaller search's trials, so that a search of a dozen trials is still mostly guided.
TPE_STARTUP_TRIALS = 10
# User attributes: the study's plan; a trial's run folders, its error, the trial it retries.
PLAN_ATTR = "labkit_plan"
RUNS_ATTR = "runs"
ERROR_ATTR = "error"
RETRY_ATTR = "retry_of"


def _storage(runs_dir: Path) -> optuna.storages.JournalStorage:
    backend = optuna.storages.journal.JournalFileBackend(str(runs_dir / JOURNAL_FILE))
    return optuna.storages.JournalStorage(backend)


def open_study(
    runs_dir: str | os.PathLike,
    plan: SearchPlan,
    *,
    sampler: str = "tpe",
    pruner: str | optuna.pruners.BasePruner = "median",
    trials: int | None = None,
) -> optuna.Study:
    """Creates the search's study in `runs_dir`, or opens the one there if its plan is the same.

    The sampler (see `make_sampler`; `trials` is the search's total) is seeded with the number
    of trials so far, so a search is reproducible and a resumed one does not propose its first
    trials again.

    Raises:
        ValueError: the folder's study was made by a different search (space, fixed values,
            seeds, objective or direction), naming what differs.

    Example:

    >>> study = open_study("runs/search", plan, sampler="tpe", pruner="median")
    """
    check_choice("sampler", sampler, SAMPLERS)
    storage = _storage(Path(runs_dir))
    if STUDY_NAME in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
        _check_same_plan(study.user_attrs.get(PLAN_ATTR, {}), plan, runs_dir)
    else:
        study = optuna.create_study(
            storage=storage, study_name=STUDY_NAME, direction=plan.direction
        )
        study.set_user_attr(PLAN_ATTR, _as_json(plan.to_json()))
    study.sampler = make_sampler(sampler, plan, seed=len(study.trials), trials=trials)
    study.pruner = make_pruner(pruner)
    return study


def load_search_study(runs_dir: str | os.PathLike) -> optuna.Study | None:
    """The study of the search in `runs_dir`, or None when the folder holds no search.

    Example:

    >>> load_search_study("runs/search").best_trial.params
    {'learning_rate': 0.0031, 'optimizer': 'adam'}
    """
    runs_dir = Path(runs_dir)
    if not (runs_dir / JOURNAL_FILE).is_file():
        return None
    storage = _storage(runs_dir)
    if STUDY_NAME not in optuna.get_all_study_names(storage):
        return None
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def _as_json(value: Any) -> Any:
    """`value` as the journal gives it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def _check_same_plan(stored: dict[str, Any], plan: SearchPlan, runs_dir: Any) -> None:
    current = _as_json(plan.to_json())
    # The same notebook may be reached by another path (another working directory).
    stored = {**stored, "notebook": Path(stored.get("notebook", "")).name}
    current["notebook"] = Path(current["notebook"]).name
    differ = [key for key in current if stored.get(key) != current[key]]
    if differ:
        key = differ[0]
        raise ValueError(
            f"The runs folder holds a search with another {key} ({stored.get(key)!r}); "
            f"resume it with the same options, or search into a new folder. "
            f"Received: `{key}={current[key]!r}`, `out={str(runs_dir)!r}`"
        )


def make_sampler(
    name: str, plan: SearchPlan, seed: int = 0, trials: int | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler called `name` (one of `SAMPLERS`) for `plan`'s space.

    `grid` needs every dimension to have a finite list of values (`Dimension.grid_values`).
    `tpe` samples at random for its first `TPE_STARTUP_TRIALS` trials, or the first third of
    a search of fewer than 30 `trials`.

    Example:

    >>> make_sampler("random", plan, seed=0)
    <optuna.samplers._random.RandomSampler object at ...>
    """
    check_choice("sampler", name, SAMPLERS)
    if name == "grid":
        grid = {key: dimension.grid_values() for key, dimension in plan.dimensions.items()}
        return _GridSampler(grid, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = TPE_STARTUP_TRIALS if trials is None else max(1, min(TPE_STARTUP_TRIALS, trials // 3))
    return optuna.samplers.TPESampler(n_startup_trials=startup, seed=seed)


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its `study.stop()` at the end of the grid, which only works
    inside `Study.optimize`: the search stops there itself (see `grid_size`)."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def grid_size(plan: SearchPlan) -> int:
    """How many trials a grid search of `plan` has: one per combination of grid values.

    Example:

    >>> grid_size(plan)  # learning_rate in 4 steps x optimizer in (adam, sgd)
    8
    """
    return math.prod(len(dimension.grid_values()) for dimension in plan.dimensions.values())


def make_pruner(pruner: str | optuna.pruners.BasePruner) -> optuna.pruners.BasePruner:
    """`median` is Optuna's `MedianPruner` (its defaults: it prunes from the sixth trial on),
    `none` prunes nothing; a pruner object is used as it is.

    Example:

    >>> make_pruner("none")
    <optuna.pruners._nop.NopPruner object at ...>
    """
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    check_choice("pruner", pruner, PRUNERS)
    if pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner()


def interrupted_trials(study: optuna.Study) -> set[int]:
    """The numbers of the trials a stopped search interrupted: each was queued again, and its
    retry names it.

    Example:

    >>> interrupted_trials(study)
    {7}
    """
    trials = study.get_trials(deepcopy=False)
    return {trial.user_attrs[RETRY_ATTR] for trial in trials if RETRY_ATTR in trial.user_attrs}


def trial_states(study: optuna.Study) -> collections.Counter[str]:
    """How many finished trials ended how: `complete`, `pruned`, `fail` or `interrupted`.

    Example:

    >>> trial_states(study)
    Counter({'complete': 8, 'pruned': 3, 'fail': 1})
    """
    interrupted = interrupted_trials(study)
    return collections.Counter(
        "interrupted" if trial.number in interrupted else trial.state.name.lower()
        for trial in study.get_trials(deepcopy=False)
        if trial.state.is_finished()
    )


def count_finished(study: optuna.Study) -> int:
    """The trials that count towards the search's total: complete, pruned, or failed by their
    own runs (not those a stopped search interrupted, which run again).

    Example:

    >>> count_finished(study)
    12
    """
    states = trial_states(study)
    return sum(states.values()) - states["interrupted"]


def interrupt_trial(study: optuna.Study, trial: Trial | FrozenTrial) -> None:
    """Records an unfinished trial as failed and queues its parameters again, as its retry.

    Example:

    >>> interrupt_trial(study, trial)  # after Ctrl-C: the next search runs it first
    """
    study.tell(trial.number, state=TrialState.FAIL)
    study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})


def requeue_unfinished(study: optuna.Study) -> list[int]:
    """Interrupts the trials a search that died (killed, lost its machine) left running.

    Call it only while holding the runs folder, so that no other search runs them.

    Example:

    >>> requeue_unfinished(study)
    [7]
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        interrupt_trial(study, trial)
    return [trial.number for trial in stale]
