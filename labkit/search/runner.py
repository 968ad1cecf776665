"""`run_search`: trials asked from Optuna, executed as papermill runs, told back, until done.

Example:

>>> plan = plan_search("notebooks/weight_norm.ipynb", {"optimizer": ["adam", "sgd"]},
...                    {"model": "weightnorm"}, objective="val_accuracy")
>>> study = run_search(plan, "runs/search", trials=2, jobs=1)
>>> study.best_trial.params
{'optimizer': 'adam'}
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from labkit._checks import check_int
from labkit.search.options import JOURNAL_FILE
from labkit.search.planning import SearchPlan
from labkit.search.study import (
    ERROR_ATTR,
    RUNS_ATTR,
    count_finished,
    grid_size,
    interrupt_trial,
    open_study,
    requeue_unfinished,
)
from labkit.search.trial import ObjectiveError, Outcome, TrialRuns
from labkit.sweep.batch import Batch, run_batch
from labkit.sweep.executor import Executor
from labkit.sweep.records import FAILED, NotebookRecord, RecordWriteError

__all__ = ["describe_trial", "run_search"]

# Seconds between two looks at the runs' futures (a Ctrl-C is handled at once regardless).
_POLL_S = 1.0


def run_search(
    plan: SearchPlan,
    out_dir: str | os.PathLike,
    *,
    trials: int,
    sampler: str = "tpe",
    pruner: str | optuna.pruners.BasePruner = "median",
    jobs: int | None = None,
    timeout: float | None = None,
    kernel_name: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> optuna.Study:
    """Runs the search until its study holds `trials` finished trials; returns the study.

    Each trial is one papermill run per seed of `plan`, executed like a sweep's runs (same
    folders, records, `runs.csv`, timeout, thread budget; on Dask with `scheduler`), `jobs`
    runs at once; its value, the mean of the objective's last value over its runs, is told to
    the study kept in `out_dir` (see `labkit.search.study`). While a run executes, the value it
    records after every epoch is reported, and a trial the pruner rejects is stopped and
    recorded as pruned, keeping what it wrote. A trial whose run fails or times out is recorded
    as failed with its error, and the search goes on.

    Rerunning the same search resumes it: finished trials count towards `trials` (so a larger
    `trials` extends it), a trial left unfinished runs again, and runs completed earlier with
    the same parameters are not run again. Ctrl-C, SIGTERM and SIGHUP stop the runs, record
    the unfinished trials as interrupted (queued for the next search) and re-raise
    KeyboardInterrupt. With the grid sampler the search ends with the grid.

    Raises:
        ValueError: bad options, a runs folder holding another search, or an objective the
            notebook does not record (found in the first run that records metrics).
        RunsFolderBusyError: another sweep or search is running in `out_dir`.
        RecordWriteError: the study's journal or `runs.csv` could not be written (a full
            disk), naming the file; a run whose folder cannot be written fails on its own.

    Example:

    >>> study = run_search(plan, "runs/search", trials=20, jobs=2, timeout=3600)
    >>> study.best_value
    0.6123
    """
    check_int("trials", trials, minimum=1)
    with run_batch(
        plan.notebook,
        out_dir,
        kind="search",
        jobs=jobs,
        timeout=timeout,
        kernel_name=kernel_name,
        scheduler=scheduler,
        progress=progress,
    ) as batch:
        out_dir = batch.folder.path
        study = open_study(out_dir, plan, sampler=sampler, pruner=pruner, trials=trials)
        requeue_unfinished(study)
        total = min(trials, grid_size(plan)) if sampler == "grid" else trials
        search = _Search(study, plan, batch, total)
        batch.start(total, min(search.finished, total), "trial")
        try:
            with batch.executor() as executor:
                try:
                    search.run(
                        executor, lambda trial: batch.advance(describe_trial(trial, plan.objective))
                    )
                except OSError as error:
                    journal = _journal_error(error, out_dir)
                    if journal is None:
                        raise
                    raise journal from error
        except BaseException:
            with contextlib.suppress(OSError):  # unfinished trials are then requeued next time
                search.interrupt()
            raise
    return study


def _journal_error(error: OSError, out_dir: Path) -> RecordWriteError | None:
    """A file error while trials run comes from the journal, the one file written here (a full
    disk): it is named as a `RecordWriteError`. A lost Dask scheduler stays what it is (None)."""
    if isinstance(error, (ConnectionError, RecordWriteError)) or error.errno is None:
        return None
    path = error.filename or str(out_dir / JOURNAL_FILE)
    return RecordWriteError(error.errno, error.strerror, path)


def describe_trial(trial: FrozenTrial, objective: str) -> str:
    """One line on a finished trial: its state, value or error, and parameters.

    Example:

    >>> describe_trial(study.trials[3], "val_accuracy")
    "trial 3: complete, val_accuracy=0.6123 (learning_rate=0.0031, optimizer='adam')"
    """
    params = ", ".join(f"{name}={_short(value)}" for name, value in trial.params.items())
    if trial.state == TrialState.COMPLETE:
        result = f"complete, {objective}={trial.value:.4g}"
    elif trial.state == TrialState.PRUNED and trial.last_step is not None:
        value = trial.intermediate_values[trial.last_step]
        result = f"pruned at epoch {trial.last_step}, {objective}={value:.4g}"
    else:
        error = trial.user_attrs.get(ERROR_ATTR)
        result = trial.state.name.lower() + (f": {error}" if error else "")
    return f"trial {trial.number}: {result} ({params})"


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


class _Search:
    """The trials of one search session: asked, their runs submitted, told as they end."""

    def __init__(self, study: optuna.Study, plan: SearchPlan, batch: Batch, total: int):
        self.study = study
        self.plan = plan
        self.batch = batch
        self.folder = batch.folder
        self.total = total
        self.finished = count_finished(study)
        self._active: list[TrialRuns] = []
        self._futures: dict[concurrent.futures.Future, tuple[TrialRuns, int]] = {}

    def run(self, executor: Executor, on_told) -> None:
        """Keeps the batch's `jobs` runs busy with new trials until `total` have finished."""
        jobs = self.batch.jobs
        while True:
            while self.finished + len(self._active) < self.total and len(self._futures) < jobs:
                self._start(executor)
            if not self._active:
                return
            done, _ = concurrent.futures.wait(
                self._futures, timeout=_POLL_S, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                trial_runs, index = self._futures.pop(future)
                record = _record(future, trial_runs.runs[index])
                self.batch.ended(record)
                trial_runs.end_run(index, record, self._dir(trial_runs, index))
            for trial_runs in [t for t in self._active if t.ended]:
                self._tell(trial_runs, on_told)

    def _dir(self, trial_runs: TrialRuns, index: int) -> Path:
        return self.folder.path / trial_runs.runs[index].run_id

    def _start(self, executor: Executor) -> None:
        trial = self.study.ask(self.plan.space)
        runs = self.batch.add(self.plan.runs(trial.params))
        trial.set_user_attr(RUNS_ATTR, [run.run_id for run in runs])
        trial_runs = TrialRuns(trial, runs, self.plan.objective)
        self._active.append(trial_runs)
        for index, run in enumerate(runs):
            if self.folder.is_completed(run):
                trial_runs.end_run(index, self.folder.record(run), self._dir(trial_runs, index))
                continue
            self.folder.clear(run)
            future = executor.submit(run, trial_runs.watch(index))
            self._futures[future] = (trial_runs, index)

    def _tell(self, trial_runs: TrialRuns, on_told) -> None:
        self._active.remove(trial_runs)
        outcome: Outcome = trial_runs.outcome()
        trial = trial_runs.trial
        if outcome.state is None:
            interrupt_trial(self.study, trial)
            return
        if outcome.error:
            trial.set_user_attr(ERROR_ATTR, outcome.error)
        if outcome.state == TrialState.COMPLETE:
            self.study.tell(trial, outcome.value)
        else:
            self.study.tell(trial, state=outcome.state)
        self.finished += 1
        if outcome.fatal:
            raise ObjectiveError(outcome.error)
        on_told(self.study.get_trials(deepcopy=False)[trial.number])

    def interrupt(self) -> None:
        """Records the unfinished trials as interrupted, queued for the next search."""
        for trial_runs in self._active:
            interrupt_trial(self.study, trial_runs.trial)
        self._active.clear()


def _record(future: concurrent.futures.Future, run) -> NotebookRecord:
    """A run's record; an executor that failed to run it gives a failed record."""
    try:
        return future.result()
    except Exception as error:
        return NotebookRecord(
            run.run_id, run.params, status=FAILED, error=f"{type(error).__name__}: {error}"
        )
