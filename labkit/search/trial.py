"""One trial of a search: its runs (one per seed), the objective per epoch, and the verdict.

While the runs execute, each run's watch reads the objective from the `metrics.json` that the
notebook writes after every epoch (`labkit.results`). Once every run of the trial has reached
epoch `e`, the trial reports their mean to Optuna as step `e` and asks the pruner; when the
pruner rejects it, every run of the trial is stopped, and those not started never start. When
all its runs have ended, `outcome` says how the trial ended and its value: the mean over its
runs of the objective's last value.

Example:

>>> trial_runs = TrialRuns(study.ask(plan.space), runs, "val_accuracy")
>>> futures = [executor.submit(run, trial_runs.watch(i)) for i, run in enumerate(runs)]
>>> for index, future in enumerate(futures):
...     trial_runs.end_run(index, future.result(), runs_dir / runs[index].run_id)
>>> trial_runs.outcome()
Outcome(state=<TrialState.COMPLETE: 1>, value=0.61, error=None, fatal=False)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import threading
from pathlib import Path

import optuna
from optuna.trial import TrialState

from labkit._checks import quoted
from labkit.results import METRICS_FILE, ResultFileError, read_record
from labkit.sweep import NotebookRecord, Run
from labkit.sweep.execution import Stop, Watch
from labkit.sweep.records import COMPLETED, FAILED, INTERRUPTED, PRUNED

__all__ = ["ObjectiveError", "Outcome", "TrialRuns", "objective_curve"]


class ObjectiveError(ValueError):
    """The runs' metrics cannot give the objective: a mistake in the search, which stops it."""


def objective_curve(run_dir: Path, objective: str) -> list[float] | None:
    """The objective's value per epoch in the run's `metrics.json`; None while there is none.

    Raises:
        ObjectiveError: the run wrote several `metrics.json` (a search scores one model per
            run), or its history has epochs but not the objective.
        ResultFileError: the file cannot be read (for a notebook writing it, try again).

    Example:

    >>> objective_curve(Path("runs/search/learning_rate=0.01-1a2b3c4d"), "val_accuracy")
    [0.41, 0.52, 0.58]
    """
    paths = sorted(run_dir.rglob(METRICS_FILE))
    if not paths:
        return None
    if len(paths) > 1:
        names = ", ".join(str(path.relative_to(run_dir)) for path in paths)
        raise ObjectiveError(
            f"A search scores one model per run, but this run wrote {len(paths)} metrics files "
            f"({names}). Received: `run={run_dir.name}`"
        )
    history = read_record(paths[0]).history
    if objective not in history:
        if not history:
            return []
        raise ObjectiveError(
            f"Invalid value for `objective`: expected one of {quoted(sorted(history))}, the "
            f"metrics the notebook records. Received: `objective={objective!r}`"
        )
    return [math.nan if value is None else float(value) for value in history[objective]]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a trial ended: its Optuna state (None: interrupted), value and error.

    `fatal` marks an error in the search itself (see `ObjectiveError`), which stops it.

    Example:

    >>> Outcome(TrialState.COMPLETE, 0.61)
    Outcome(state=<TrialState.COMPLETE: 1>, value=0.61, error=None, fatal=False)
    """

    state: TrialState | None
    value: float | None = None
    error: str | None = None
    fatal: bool = False


class TrialRuns:
    """The runs of one trial: what they report per epoch, and whether the pruner stopped them.

    Args:
        trial: The Optuna trial, asked and not yet told.
        runs: Its runs, one per seed.
        objective: The metric to read from each run's `metrics.json`.
    """

    def __init__(self, trial: optuna.Trial, runs: list[Run], objective: str):
        self.trial = trial
        self.runs = runs
        self.objective = objective
        self.records: list[NotebookRecord | None] = [None] * len(runs)
        self.stop: Stop | None = None
        self._curves: list[list[float]] = [[] for _ in runs]
        self._reported = 0
        self._error: ObjectiveError | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def ended(self) -> bool:
        """Whether every run has ended (and `outcome` can be asked)."""
        return all(record is not None for record in self.records)

    def watch(self, index: int) -> Watch:
        """The watch of run `index`: reads its objective, reports, and stops it when pruned.

        Example:

        >>> executor.submit(runs[0], trial_runs.watch(0))
        """

        def look(run_dir: Path) -> Stop | None:
            try:
                curve = objective_curve(run_dir, self.objective)
            except ResultFileError:
                curve = None  # being written: the next look reads it
            except ObjectiveError as error:
                self._error = error
                return Stop(FAILED, str(error))
            if curve:
                self.observe(index, curve, prune=True)
            return self.stop

        return look

    def observe(self, index: int, curve: list[float], *, prune: bool) -> None:
        """Takes run `index`'s values so far; reports each epoch that every run has reached.

        With `prune`, the pruner then decides, and a rejected trial's runs are to stop.

        Example:

        >>> trial_runs.observe(0, [0.31, 0.42], prune=True)
        >>> trial_runs.stop
        Stop(status='pruned', error='Pruned at epoch 2: val_accuracy=0.365.')
        """
        with self._lock:
            if self._closed:
                return
            self._curves[index] = curve
            reached = min(len(curve) for curve in self._curves)
            last = None
            for step in range(self._reported + 1, reached + 1):
                value = statistics.fmean(curve[step - 1] for curve in self._curves)
                if math.isfinite(value):
                    self.trial.report(value, step)
                    last = step, value
            self._reported = max(self._reported, reached)
            if prune and last and self.stop is None and self.trial.should_prune():
                step, value = last
                self.stop = Stop(PRUNED, f"Pruned at epoch {step}: {self.objective}={value:.4g}.")

    def end_run(self, index: int, record: NotebookRecord, run_dir: Path) -> None:
        """Records how run `index` ended and takes its last values from `run_dir`.

        Example:

        >>> trial_runs.end_run(0, future.result(), runs_dir / runs[0].run_id)
        """
        self.records[index] = record
        if record.status == INTERRUPTED:
            return
        try:
            curve = objective_curve(run_dir, self.objective)
        except ResultFileError as error:
            curve = None
            if record.status == COMPLETED:
                self._error = ObjectiveError(f"{error} A search needs it to score the run.")
        except ObjectiveError as error:
            curve = None
            self._error = error
        if curve:
            self.observe(index, curve, prune=False)
        elif record.status == COMPLETED and self._error is None:
            self._error = ObjectiveError(
                f"The run completed without recording `{self.objective}` in a metrics.json; a "
                "search needs the notebook to write it after every epoch (labkit.results). "
                f"Received: `run={run_dir.name}`"
            )

    def outcome(self) -> Outcome:
        """How the trial ended, once every run has (`ended`); no more values are reported.

        Example:

        >>> trial_runs.outcome().value
        0.61
        """
        with self._lock:
            self._closed = True
        if self._error is not None:
            return Outcome(TrialState.FAIL, error=str(self._error), fatal=True)
        statuses = [record.status for record in self.records]
        if INTERRUPTED in statuses:
            return Outcome(None, error="Interrupted.")
        if self.stop is not None and self.stop.status == PRUNED:
            return Outcome(TrialState.PRUNED, error=self.stop.error)
        for record in self.records:
            if record.status != COMPLETED:
                return Outcome(TrialState.FAIL, error=record.error or record.status)
        value = statistics.fmean(curve[-1] for curve in self._curves)
        if not math.isfinite(value):
            return Outcome(TrialState.FAIL, error=f"`{self.objective}` ended as {value}.")
        return Outcome(TrialState.COMPLETE, value)
