"""What every executor of a batch offers: submit runs, get their records as they end, stop.

`LocalExecutor` (local processes) and `DaskExecutor` (a Dask cluster) implement it, so a batch
that decides its runs one at a time (a search) drives either one like a sweep does.

Example:

>>> with LocalExecutor(task, Path("runs/sweep"), jobs=2) as executor:
...     for record in executor.run_all(runs):
...         print(record.run_id, record.status)
"""

from __future__ import annotations

import abc
import concurrent.futures
from collections.abc import Iterable, Iterator

from labkit.sweep.execution import Watch
from labkit.sweep.planning import Run
from labkit.sweep.records import NotebookRecord

__all__ = ["Executor"]


class Executor(abc.ABC):
    """Executes runs into a runs folder; a context manager that stops its runs on errors.

    Leaving the `with` block normally waits for the submitted runs; leaving it with an exception
    (Ctrl-C included) stops them (see `stop`).
    """

    @abc.abstractmethod
    def submit(
        self, run: Run, watch: Watch | None = None
    ) -> concurrent.futures.Future[NotebookRecord]:
        """Starts `run` (or queues it) and returns a future of its record.

        `watch`, when given, is called with the run's folder in the runs folder before the run
        starts and about every `WATCH_INTERVAL_S` while it runs, with the run's `metrics.json`
        files there as the run last wrote them; a `Stop` it returns ends that run alone.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Ends the running runs, recording them as interrupted where it can; starts no more."""

    @abc.abstractmethod
    def close(self) -> None:
        """Waits for the submitted runs and releases what the executor holds."""

    def run_all(self, runs: Iterable[Run]) -> Iterator[NotebookRecord]:
        """Submits every run and yields their records in the order they end.

        Example:

        >>> [record.status for record in executor.run_all(runs)]
        ['completed', 'failed']
        """
        futures = [self.submit(run) for run in runs]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.stop()
