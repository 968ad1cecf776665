"""Runs executed on this machine: one papermill process per run, `jobs` at a time.

Example:

>>> with LocalExecutor(task, Path("runs/sweep"), jobs=2) as executor:
...     records = list(executor.run_all(runs))
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from labkit.sweep.execution import (
    PapermillTask,
    ProcessGroup,
    Watch,
    execute_run,
    thread_budget,
)
from labkit.sweep.executor import Executor
from labkit.sweep.planning import Run
from labkit.sweep.records import NotebookRecord

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Executes runs as local papermill processes, `jobs` at once.

    Each run's process gets `OMP_NUM_THREADS` and `TF_NUM_INTRAOP_THREADS` = cores // `jobs`.
    `stop` ends the running processes (their runs are recorded as interrupted) and drops the
    queued runs.

    Args:
        task: The notebook and papermill's options.
        out_dir: The runs folder; each run executes in `out_dir / run.run_id`.
        jobs: Runs at once.
    """

    def __init__(self, task: PapermillTask, out_dir: Path, jobs: int):
        self.task = task
        self.out_dir = Path(out_dir)
        self.jobs = jobs
        self._processes = ProcessGroup()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=jobs, thread_name_prefix="labkit-sweep"
        )

    def submit(
        self, run: Run, watch: Watch | None = None
    ) -> concurrent.futures.Future[NotebookRecord]:
        return self._pool.submit(
            execute_run,
            self.task,
            run,
            self.out_dir / run.run_id,
            threads=thread_budget(self.jobs),
            processes=self._processes,
            watch=watch,
        )

    def stop(self) -> None:
        self._processes.stop()
        # Waits for the running runs to record themselves as interrupted.
        self._pool.shutdown(cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown()
