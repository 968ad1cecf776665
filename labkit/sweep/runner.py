"""`run_sweep`: every planned run not yet completed, executed locally or on Dask, recorded.

Example:

>>> runs = plan_sweep("notebooks/weight_norm.ipynb", {"seed": [0, 1, 2]})
>>> records = run_sweep("notebooks/weight_norm.ipynb", runs, "runs/seeds", timeout=3600)
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import nbformat
from tqdm.auto import tqdm

from labkit._checks import check_choice, is_int, is_number
from labkit._io import writable_dir_problem
from labkit.sweep.dask_cluster import DaskExecutor
from labkit.sweep.execution import PapermillTask
from labkit.sweep.executor import Executor
from labkit.sweep.folder import RunsFolder
from labkit.sweep.interrupts import interrupt_on_signals
from labkit.sweep.local import LocalExecutor
from labkit.sweep.parameters import (
    OUTPUT_DIR_PARAMETER,
    existing_notebook,
    notebook_defaults,
    notebook_parameters,
)
from labkit.sweep.planning import Run
from labkit.sweep.records import COMPLETED, NotebookRecord, RecordWriteError

__all__ = [
    "check_jobs",
    "check_kernel",
    "check_runs_dir",
    "check_timeout",
    "make_executor",
    "notebook_task",
    "progress_bar",
    "run_sweep",
    "write_summary_after",
]


def check_timeout(timeout: float | None) -> None:
    """Checks a per-run timeout: None (no limit) or a finite number of seconds > 0.

    Example:

    >>> check_timeout(float("nan"))
    Traceback (most recent call last):
    ValueError: `timeout` must be a positive, finite number of seconds or None. Received: ...
    """
    if timeout is not None and not (is_number(timeout) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(
            "`timeout` must be a positive, finite number of seconds or None. "
            f"Received: `timeout={timeout}`"
        )


def check_jobs(jobs: int | None) -> None:
    """Checks how many runs may execute at once: None (as many as cores) or an int >= 1.

    Example:

    >>> check_jobs(0)
    Traceback (most recent call last):
    ValueError: `jobs` must be a positive integer. Received: `jobs=0`
    """
    if jobs is not None and not (is_int(jobs) and jobs >= 1):
        raise ValueError(f"`jobs` must be a positive integer. Received: `jobs={jobs}`")


def check_kernel(notebook: str | os.PathLike, kernel_name: str | None = None) -> None:
    """Checks that the Jupyter kernel a run would start, `kernel_name` or the notebook's own, is
    installed here.

    Example:

    >>> check_kernel("notebooks/weight_norm.ipynb", "nosuchkernel")
    Traceback (most recent call last):
    ValueError: Invalid value for `kernel`: expected one of 'python3'. Received: ...
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = kernel_name
    if not name:
        metadata = nbformat.read(existing_notebook(notebook), as_version=4).metadata
        name = metadata.get("kernelspec", {}).get("name")
        if not name:
            raise ValueError(
                "The notebook names no Jupyter kernel (no `kernelspec` in its metadata); "
                f"choose one with `--kernel NAME`. Received: `notebook={str(notebook)!r}`"
            )
    manager = KernelSpecManager()
    try:
        manager.get_kernel_spec(name)
    except NoSuchKernel:
        installed = sorted(manager.find_kernel_specs())
        if kernel_name:
            check_choice("kernel", kernel_name, installed)
        raise ValueError(
            f"The notebook's Jupyter kernel {name!r} is not installed here; choose one of "
            f"{', '.join(map(repr, installed))} with `--kernel NAME`. "
            f"Received: `notebook={str(notebook)!r}`"
        ) from None


def check_runs_dir(out_dir: str | os.PathLike) -> Path:
    """Checks that the runs folder can be written or created; returns it as an absolute path.

    Example:

    >>> check_runs_dir("runs/sweep").name
    'sweep'
    """
    problem = writable_dir_problem(out_dir)
    if problem:
        raise ValueError(
            f"The runs folder must be a writable folder ({problem}). "
            f"Received: `out_dir={str(out_dir)!r}`"
        )
    return Path(out_dir).resolve()


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


def notebook_task(
    notebook: str | os.PathLike,
    *,
    kernel_name: str | None = None,
    timeout: float | None = None,
    local: bool = True,
) -> PapermillTask:
    """Checks the options and returns how to execute `notebook` once per run.

    With `local` (runs on this machine, not on a Dask cluster) the kernel must be installed here.

    Example:

    >>> notebook_task("notebooks/weight_norm.ipynb", timeout=3600).output_dir_parameter
    'output_dir'
    """
    check_timeout(timeout)
    notebook = existing_notebook(notebook).resolve()
    if local:
        check_kernel(notebook, kernel_name)
    has_output_dir = OUTPUT_DIR_PARAMETER in notebook_parameters(notebook)
    return PapermillTask(
        notebook, kernel_name, timeout, OUTPUT_DIR_PARAMETER if has_output_dir else None
    )


def make_executor(
    task: PapermillTask, out_dir: Path, *, jobs: int, scheduler: str | None = None
) -> Executor:
    """A `DaskExecutor` on `scheduler` when given, else a `LocalExecutor` running `jobs` at once.

    Example:

    >>> with make_executor(task, Path("runs/sweep"), jobs=2) as executor:
    ...     records = list(executor.run_all(runs))
    """
    if scheduler:
        return DaskExecutor(task, out_dir, scheduler)
    return LocalExecutor(task, out_dir, jobs)


def run_sweep(
    notebook: str | os.PathLike,
    runs: Iterable[Run],
    out_dir: str | os.PathLike,
    *,
    jobs: int | None = None,
    timeout: float | None = None,
    kernel_name: str | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> list[NotebookRecord]:
    """Executes every run not yet completed, `jobs` at a time, and returns all runs' records.

    Each run is its own papermill process and kernel, ended after `timeout` seconds; with N runs
    at once, each gets `OMP_NUM_THREADS` and `TF_NUM_INTRAOP_THREADS` = cores // N. A run that
    fails or times out is recorded with its error and the others go on.

    The runs folder belongs to this sweep while it runs: another sweep into it fails at once
    (`RunsFolderBusyError`, naming this one). A run completed earlier, by any sweep whose
    parameter values were the same, is skipped; any other run starts again from an empty folder.
    Ctrl-C, SIGTERM and SIGHUP end the running processes, record them as interrupted, write
    `runs.csv` and re-raise KeyboardInterrupt; completed runs stay. `runs.csv` lists every run
    in the folder, this sweep's first. A runs folder that cannot be written while the sweep runs
    (a full disk) fails each run it hits with an error naming the file; a `runs.csv` that cannot
    be written raises `RecordWriteError`, naming it, once the runs have ended.

    With `scheduler` (a Dask scheduler address) the runs execute on that cluster's workers, as
    many at once as they have threads (`jobs` is for local runs), and their files are copied back,
    so no shared filesystem is needed; workers need labkit and what the notebook imports.

    Example:

    >>> runs = plan_sweep("notebooks/weight_norm.ipynb", {"seed": [0, 1, 2]})
    >>> records = run_sweep("notebooks/weight_norm.ipynb", runs, "runs/seeds", timeout=3600)
    >>> [record.status for record in records]
    ['completed', 'completed', 'completed']
    """
    check_jobs(jobs)
    task = notebook_task(notebook, kernel_name=kernel_name, timeout=timeout, local=not scheduler)
    out_dir = check_runs_dir(out_dir)
    runs = list(runs)
    defaults = notebook_defaults(task.notebook)
    with interrupt_on_signals(), RunsFolder(out_dir, defaults, kind="sweep") as folder:
        runs = [folder.place(run) for run in runs]
        pending = [run for run in runs if not folder.is_completed(run)]
        for run in pending:
            folder.clear(run)
        bar, stream = progress_bar(len(runs), len(runs) - len(pending), "sweep", "run", progress)
        ended: dict[str, NotebookRecord] = {}  # this sweep's records, even those not on disk
        finished = False
        try:
            if pending:
                jobs = max(1, min(jobs or os.cpu_count() or 1, len(pending)))
                with make_executor(task, out_dir, jobs=jobs, scheduler=scheduler) as executor:
                    for record in executor.run_all(pending):
                        ended[record.run_id] = record
                        bar.update()
                        if record.status != COMPLETED:
                            bar.write(f"{record.run_id}: {record.status}: {record.error}", stream)
            finished = True
        finally:
            records = [ended.get(run.run_id) or _record_on_disk(folder, run) for run in runs]
            bar.close()
            write_summary_after(folder, records, finished)
    return records


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
