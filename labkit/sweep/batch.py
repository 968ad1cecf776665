"""The loop every batch of notebook runs shares, `labkit sweep`'s and `labkit search`'s: options
checked, signals that stop it like Ctrl-C, its runs folder held, a progress bar, an executor, and
`runs.csv` written as it ends, however it ends (as keras-tuner's `BaseTuner` shares the trial loop).

Example:

>>> with run_batch("notebooks/weight_norm.ipynb", "runs/seeds", kind="sweep") as batch:
...     runs = batch.add(plan_sweep("notebooks/weight_norm.ipynb", {"seed": [0, 1]}))
...     batch.start(total=len(runs), done=0, unit="run")
...     with batch.executor() as executor:
...         for record in executor.run_all(runs):
...             batch.ended(record)
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tqdm.auto import tqdm

from labkit.sweep.execution import PapermillTask
from labkit.sweep.executor import Executor
from labkit.sweep.folder import RunsFolder
from labkit.sweep.interrupts import interrupt_on_signals
from labkit.sweep.options import check_jobs, check_runs_dir, make_executor, notebook_task
from labkit.sweep.parameters import notebook_defaults
from labkit.sweep.planning import Run
from labkit.sweep.records import NotebookRecord, RecordWriteError

__all__ = ["Batch", "run_batch", "progress_bar", "write_summary_after"]


@contextlib.contextmanager
def run_batch(
    notebook: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    kind: str,
    jobs: int | None = None,
    timeout: float | None = None,
    kernel_name: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> Iterator[Batch]:
    """Checks the options, then holds the runs folder for one batch while the block runs.

    Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt in the block. Once the batch has started
    (`Batch.start`), however the block ends, the progress bar is closed and `runs.csv` is
    written with the records of the runs the batch added (`Batch.records`); a `runs.csv` that
    cannot be written raises `RecordWriteError`, or, when the block raised, is only a warning,
    so that its exception is what the caller sees. An error before the start (a folder that
    holds another kind of batch) leaves the folder as it was.

    Args:
        notebook: The notebook each run executes.
        out_dir: The runs folder; `kind` (`"sweep"` or `"search"`) is what its lock says holds it.
        jobs: Runs at once (`None`: as many as cores); see `run_sweep` for the others.

    Raises:
        ValueError: a bad option, before the folder is touched.
        RunsFolderBusyError: another batch holds the folder.

    Example:

    >>> with run_batch(notebook, "runs/sweep", kind="sweep", jobs=2) as batch:
    ...     runs = batch.add(runs)
    """
    check_jobs(jobs)
    task = notebook_task(notebook, kernel_name=kernel_name, timeout=timeout, local=not scheduler)
    out_dir = check_runs_dir(out_dir)
    with (
        interrupt_on_signals(),
        RunsFolder(out_dir, notebook_defaults(task.notebook), kind=kind) as folder,
    ):
        batch = Batch(task, folder, kind, jobs or os.cpu_count() or 1, scheduler, progress)
        finished = False
        try:
            yield batch
            finished = True
        finally:
            if batch.started:
                batch.close_progress()
                write_summary_after(folder, batch.records(), finished)


class Batch:
    """One batch of runs in its runs folder, while `run_batch` holds it.

    Args:
        task: How each run's notebook is executed.
        folder: The runs folder, held.
        kind: `"sweep"` or `"search"`, the progress bar's label.
        jobs: Runs at once.
        scheduler: A Dask scheduler address, or `None` to run here.
        progress: Show a progress bar once the batch starts (`start`).

    Example:

    >>> batch = Batch(task, folder, "sweep", jobs=2)
    """

    def __init__(
        self,
        task: PapermillTask,
        folder: RunsFolder,
        kind: str,
        jobs: int,
        scheduler: str | None = None,
        progress: bool = True,
    ):
        self.task = task
        self.folder = folder
        self.kind = kind
        self.jobs = jobs
        self.scheduler = scheduler
        self.started = False
        self._progress = progress
        self._bar: tqdm | None = None
        self._stream: IO[str] = sys.stderr
        self._runs: list[Run] = []
        self._ended: dict[str, NotebookRecord] = {}  # records of the runs executed, by run id

    def add(self, runs: Iterable[Run]) -> list[Run]:
        """Places `runs` in the folder (`RunsFolder.place`) and counts them as this batch's;
        returns them placed.

        Example:

        >>> runs = batch.add(runs)
        """
        placed = [self.folder.place(run) for run in runs]
        self._runs.extend(placed)
        return placed

    def executor(self, runs: int | None = None) -> Executor:
        """The executor (a context manager) that runs `jobs` at once, or fewer when only `runs`
        are left to run.

        Example:

        >>> with batch.executor(runs=len(pending)) as executor:
        ...     records = list(executor.run_all(pending))
        """
        jobs = max(1, min(self.jobs, runs)) if runs else self.jobs
        return make_executor(self.task, self.folder.path, jobs=jobs, scheduler=self.scheduler)

    def start(self, total: int, done: int, unit: str) -> None:
        """Starts the batch: shows a progress bar of `total` units (`"run"`, `"trial"`), `done`
        of them already; from now on `run_batch` writes `runs.csv` as the batch ends.

        Example:

        >>> batch.start(total=6, done=2, unit="run")
        """
        self.started = True
        self.close_progress()
        self._bar, self._stream = progress_bar(total, done, self.kind, unit, self._progress)

    def advance(self, line: str | None = None) -> None:
        """Moves the progress bar on by one unit, and writes `line` beside it.

        Example:

        >>> batch.advance("seed=3-0f1e2d3c: failed: RuntimeError: ...")
        """
        if self._bar is not None:
            self._bar.update()
            if line:
                self._bar.write(line, self._stream)

    def close_progress(self) -> None:
        """Closes the progress bar, if one is shown (`run_batch` does as the batch ends).

        Example:

        >>> batch.close_progress()
        """
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def ended(self, record: NotebookRecord) -> None:
        """Keeps the record of a run this batch executed, for `runs.csv` (even where the disk
        refused it).

        Example:

        >>> batch.ended(record)
        """
        self._ended[record.run_id] = record

    def records(self) -> list[NotebookRecord]:
        """The records of the runs this batch added, in order: those it executed, else the one in
        the folder, else a pending one.

        Example:

        >>> [record.status for record in batch.records()]
        ['completed', 'completed', 'failed']
        """
        return [
            self._ended.get(run.run_id) or _record_on_disk(self.folder, run) for run in self._runs
        ]


def progress_bar(
    total: int, initial: int, desc: str, unit: str, enabled: bool = True
) -> tuple[tqdm, IO[str]]:
    """A tqdm bar on stderr, and the stream for messages beside it (`bar.write(text, stream)`).

    Both keep quiet, instead of failing, once the terminal is gone (hang-up, closed pipe).

    Example:

    >>> bar, stream = progress_bar(total=4, initial=1, desc="sweep", unit="run")
    >>> bar.write("seed=3-0f1e2d3c: failed: ...", stream)
    """
    stream = _LossyStream(sys.stderr)
    bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, disable=not enabled)
    return bar, stream


def write_summary_after(folder: RunsFolder, records: list[NotebookRecord], finished: bool) -> None:
    """Writes `runs.csv` as a batch ends; when it ends by an exception (Ctrl-C), a summary that
    cannot be written is only a warning, so that the exception is what the caller sees.

    Example:

    >>> write_summary_after(folder, records, finished=True)
    """
    try:
        folder.write_summary(records)
    except RecordWriteError as error:
        if finished:
            raise
        warnings.warn(f"Could not write the summary: {error}", stacklevel=2)


def _record_on_disk(folder: RunsFolder, run: Run) -> NotebookRecord:
    """The run's record in the folder; a pending one when it has none or it cannot be read."""
    try:
        return folder.record(run) or NotebookRecord(run.run_id, run.params)
    except ValueError:
        return NotebookRecord(run.run_id, run.params)


def _record_on_disk(folder: RunsFolder, run: Run) -> NotebookRecord:
    """The run's record in the folder; a pending one when it has none or it cannot be read."""
    try:
        return folder.record(run) or NotebookRecord(run.run_id, run.params)
    except ValueError:
        return NotebookRecord(run.run_id, run.params)


class _LossyStream:
    """A text stream whose writes are dropped once its terminal is gone (hang-up, closed pipe):
    losing the terminal must not stop the sweep from recording its runs."""

    def __init__(self, stream: IO[str]):
        self._stream = stream

    def write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
