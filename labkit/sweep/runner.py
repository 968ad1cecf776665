"""`run_sweep`: every planned run not yet completed, executed locally or on Dask, recorded.

Example:

>>> runs = plan_sweep("notebooks/weight_norm.ipynb", {"seed": [0, 1, 2]})
>>> records = run_sweep("notebooks/weight_norm.ipynb", runs, "runs/seeds", timeout=3600)
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from labkit.sweep.batch import run_batch
from labkit.sweep.planning import Run
from labkit.sweep.records import COMPLETED, NotebookRecord

__all__ = ["run_sweep"]


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
    with run_batch(
        notebook,
        out_dir,
        kind="sweep",
        jobs=jobs,
        timeout=timeout,
        kernel_name=kernel_name,
        scheduler=scheduler,
        progress=progress,
    ) as batch:
        runs = batch.add(runs)
        pending = [run for run in runs if not batch.folder.is_completed(run)]
        for run in pending:
            batch.folder.clear(run)
        batch.start(len(runs), len(runs) - len(pending), "run")
        if pending:
            with batch.executor(runs=len(pending)) as executor:
                for record in executor.run_all(pending):
                    batch.ended(record)
                    failed = record.status != COMPLETED
                    batch.advance(
                        f"{record.run_id}: {record.status}: {record.error}" if failed else None
                    )
    return batch.records()
